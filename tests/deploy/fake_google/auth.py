"""OAuth: a token endpoint that checks the service account's signed JWT and issues tokens."""

from __future__ import annotations

import secrets
import time
from urllib.parse import parse_qs, parse_qsl

from google.auth import jwt

from .common import GOOGLE_TOKEN_AUDIENCE, Reply


class OAuth:
    def _token(self, raw: bytes) -> Reply:
        form = {k: v[0] for k, v in parse_qs(raw.decode()).items()}
        try:
            # google-auth signs for Google's token audience whatever token_uri is
            claims = jwt.decode(
                form["assertion"], certs=self.sa_public_pem, audience=[self.token_uri, GOOGLE_TOKEN_AUDIENCE]
            )
        except (KeyError, ValueError) as err:
            return Reply(400, {"error": "invalid_grant", "error_description": str(err)})
        with self.lock:
            self.token_requests += 1
            if claims.get("target_audience"):
                self.id_token_requests += 1
                return Reply(200, {"id_token": self.id_token(claims["iss"], claims["target_audience"])})
            token = "ya29.fake-" + secrets.token_urlsafe(12)
            self.tokens[token] = claims["iss"]
        return Reply(200, {"access_token": token, "expires_in": self.token_ttl, "token_type": "Bearer"})

    def id_token(self, email: str, audience: str) -> str:
        issued = int(time.time())
        payload = {
            "iss": "https://accounts.google.com",
            "aud": audience,
            "sub": "1" * 21,
            "email": email,
            "email_verified": True,
            "iat": issued,
            "exp": issued + 3600,
        }
        return jwt.encode(self.server_signer, payload).decode()

    def _tokeninfo(self, query: str) -> Reply:
        token = dict(parse_qsl(query)).get("access_token", "")
        email = self.tokens.get(token)
        if email is None:
            return Reply(400, {"error": "invalid_token"})
        return Reply(200, {"email": email, "email_verified": "true", "expires_in": "3599"})

    def _caller(self, h) -> str | None:
        auth = h.headers.get("Authorization", "")
        token = auth.removeprefix("Bearer ")
        with self.lock:
            if self.reject_next_token and token in self.tokens:
                self.reject_next_token = False
                del self.tokens[token]  # as if revoked: the client must refresh
            return self.tokens.get(token)
