"""Google's token endpoint and metadata server, on loopback, for real google-auth flows.

- `POST /token`: the OAuth 2.0 endpoint. A service account's signed JWT
  assertion (verified against the key the test generated) gets an ID token when
  it asks for a `target_audience`, else an access token; a `refresh_token`
  grant (gcloud user credentials) gets an access token and an ID token.
- `GET /computeMetadata/v1/instance/service-accounts/default/identity`: the
  metadata server's ID token endpoint (requires `Metadata-Flavor: Google`),
  plus the ping at `/` that google-auth uses to detect the metadata server.

ID tokens are RS256 JWTs signed by the server's own key, with `aud`, `iat`
and `exp` from a clock the test controls; `valid()` checks one the way a
Cloud Run front end would (signature, audience, expiry).
"""

from __future__ import annotations

import itertools
import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from google.auth import crypt, jwt

from .base import LocalServer, QuietHandler


def new_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def pem(key: rsa.RSAPrivateKey) -> str:
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()


def public_pem(key: rsa.RSAPrivateKey) -> bytes:
    return key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )


@dataclass
class AuthState:
    clock: Callable[[], float] = time.time
    lifetime: int = 3600
    service_account_keys: dict[str, bytes] = field(default_factory=dict)  # email -> public PEM
    issued: list[str] = field(default_factory=list)
    grants: list[str] = field(default_factory=list)  # grant types seen, in order
    metadata_requests: int = 0
    fail_next: int = 0  # answer this many token requests with 400 invalid_grant
    counter: Any = field(default_factory=lambda: itertools.count(1))
    key: rsa.RSAPrivateKey = field(default_factory=new_key)

    def id_token(self, audience: str, email: str) -> str:
        now = int(self.clock())
        payload = {
            "iss": "https://accounts.google.com",
            "aud": audience,
            "sub": str(abs(hash(email)) % 10**12),
            "email": email,
            "iat": now,
            "exp": now + self.lifetime,
            "jti": str(next(self.counter)),
        }
        signer = crypt.RSASigner.from_string(pem(self.key), key_id="test-key")
        token = jwt.encode(signer, payload).decode()
        self.issued.append(token)
        return token

    def valid(self, token: str | None, audience: str) -> bool:
        """What Cloud Run checks: our signature, the audience, and expiry by our clock."""
        if not token:
            return False
        try:
            claims = jwt.decode(
                token,
                certs={"test-key": public_pem(self.key)},
                verify=True,
                audience=audience,
                clock_skew_in_seconds=10**9,
            )
        except ValueError:
            return False
        return claims["exp"] > self.clock()


class AuthHandler(QuietHandler):
    @property
    def state(self) -> AuthState:
        return self.server.owner.state  # type: ignore[attr-defined]

    def do_GET(self) -> None:
        parts = urlsplit(self.path)
        if parts.path == "/":  # google-auth's metadata ping
            self.send_response(200)
            self.send_header("Metadata-Flavor", "Google")
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        if self.headers.get("Metadata-Flavor") != "Google":
            self.send_json(403, {"error": "Missing Metadata-Flavor:Google header."})
            return
        if parts.path.endswith("/instance/service-accounts/default/"):
            self.send_json(
                200,
                {
                    "email": "app@project.iam.gserviceaccount.com",
                    "aliases": ["default"],
                    "scopes": ["https://www.googleapis.com/auth/cloud-platform"],
                },
                {"Metadata-Flavor": "Google"},
            )
            return
        if parts.path.endswith("/instance/service-accounts/default/identity"):
            audience = parse_qs(parts.query).get("audience", [""])[0]
            self.state.metadata_requests += 1
            token = self.state.id_token(audience, "app@project.iam.gserviceaccount.com").encode()
            self.send_response(200)
            self.send_header("Metadata-Flavor", "Google")
            self.send_header("Content-Type", "application/text")
            self.send_header("Content-Length", str(len(token)))
            self.end_headers()
            self.wfile.write(token)
            return
        self.send_json(404, {"error": "not found"})

    def do_POST(self) -> None:
        if urlsplit(self.path).path != "/token":
            self.send_json(404, {"error": "not_found"})
            return
        length = int(self.headers.get("Content-Length") or 0)
        form = {k: v[0] for k, v in parse_qs(self.rfile.read(length).decode()).items()}
        state = self.state
        state.grants.append(form.get("grant_type", ""))
        if state.fail_next:
            state.fail_next -= 1
            self.send_json(
                400, {"error": "invalid_grant", "error_description": "Token has been expired or revoked."}
            )
            return
        if form.get("grant_type") == "refresh_token":
            self._user(form)
        elif form.get("grant_type") == "urn:ietf:params:oauth:grant-type:jwt-bearer":
            self._service_account(form.get("assertion", ""))
        else:
            self.send_json(400, {"error": "unsupported_grant_type"})

    def _user(self, form: dict[str, str]) -> None:
        if not form.get("refresh_token") or not form.get("client_id"):
            self.send_json(400, {"error": "invalid_request"})
            return
        audience = form["client_id"]  # gcloud user ID tokens carry the OAuth client as audience
        self.send_json(
            200,
            {
                "access_token": f"ya29.user-{next(self.state.counter)}",
                "expires_in": self.state.lifetime,
                "token_type": "Bearer",
                "scope": "openid https://www.googleapis.com/auth/userinfo.email",
                "id_token": self.state.id_token(audience, "person@example.com"),
            },
        )

    def _service_account(self, assertion: str) -> None:
        try:
            unverified = jwt.decode(assertion, verify=False)
            email = unverified["iss"]
            claims = jwt.decode(
                assertion,
                certs=[self.state.service_account_keys[email]],
                verify=True,
                clock_skew_in_seconds=10**9,
            )
        except (ValueError, KeyError):
            self.send_json(400, {"error": "invalid_grant", "error_description": "Invalid JWT Signature."})
            return
        if claims.get("target_audience"):
            self.send_json(200, {"id_token": self.state.id_token(claims["target_audience"], email)})
        else:
            self.send_json(
                200,
                {
                    "access_token": f"ya29.sa-{next(self.state.counter)}",
                    "expires_in": self.state.lifetime,
                    "token_type": "Bearer",
                },
            )


class FakeGoogleAuth(LocalServer):
    def __init__(self, state: AuthState | None = None) -> None:
        self.state = state or AuthState()
        super().__init__(AuthHandler)

    @property
    def token_uri(self) -> str:
        return f"{self.url}/token"

    def service_account_file(
        self, folder: Path, email: str = "runner@project.iam.gserviceaccount.com"
    ) -> Path:
        """A real service-account key file (fresh RSA key) whose token_uri is this server."""
        key = new_key()
        self.state.service_account_keys[email] = public_pem(key)
        path = folder / "service-account.json"
        path.write_text(
            json.dumps(
                {
                    "type": "service_account",
                    "project_id": "project",
                    "private_key_id": "k1",
                    "private_key": pem(key),
                    "client_email": email,
                    "client_id": "1234567890",
                    "token_uri": self.token_uri,
                }
            )
        )
        return path

    def user_file(self, folder: Path) -> Path:
        """An `authorized_user` ADC file, as `gcloud auth application-default login` writes."""
        path = folder / "application_default_credentials.json"
        path.write_text(
            json.dumps(
                {
                    "type": "authorized_user",
                    "client_id": "764086051850-6qr4p6gpi6hn506pt8ejuq83di341hur.apps.googleusercontent.com",
                    "client_secret": "d-FL95Q19q7MQmFpd7hHD0Ty",
                    "refresh_token": "1//refresh-token",
                    "token_uri": self.token_uri,
                }
            )
        )
        return path
