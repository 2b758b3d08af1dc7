"""Google ID tokens for a private Cloud Run service, and bearer auth for Ollama.

Cloud Run checks an ID token whose audience is the service URL. Credentials are
found in this order (the first that applies wins):

1. `GOOGLE_APPLICATION_CREDENTIALS`: a service-account key file (or an
   impersonated service account), via `google.oauth2.id_token`.
2. The gcloud ADC file of `gcloud auth application-default login` (a user): the
   ID token that comes with each refresh (the notebook appendix's fallback).
3. The metadata server (Cloud Run, GCE, GKE): `compute_engine.IDTokenCredentials`.

Step 2 comes before 3 so a laptop never waits for a metadata server it doesn't
have. Tokens are refreshed `margin` seconds before they expire, and a 401 forces
one refresh and one retry. Tokens are never logged or shown in a repr.
"""

from __future__ import annotations

import json
import os
import threading
import time
from collections.abc import Callable, Generator
from pathlib import Path
from typing import Any

import httpx

from .errors import AuthError

ADC_HINT = "Run `gcloud auth application-default login`, or set GOOGLE_APPLICATION_CREDENTIALS to a key file."


def _adc_file() -> Path:
    root = os.environ.get("CLOUDSDK_CONFIG") or str(Path.home() / ".config" / "gcloud")
    return Path(root) / "application_default_credentials.json"


def discover_credentials(audience: str, request: Any) -> Any:
    """google-auth credentials whose refresh yields an ID token for `audience`."""
    import google.auth
    import google.auth.exceptions
    from google.oauth2 import id_token

    try:
        if os.environ.get("GOOGLE_APPLICATION_CREDENTIALS"):
            path = Path(os.environ["GOOGLE_APPLICATION_CREDENTIALS"])
            if _file_type(path) == "authorized_user":
                return _user_credentials(path)
            return id_token.fetch_id_token_credentials(audience, request=request)
        if _adc_file().exists() and _file_type(_adc_file()) == "authorized_user":
            return _user_credentials(_adc_file())
        return id_token.fetch_id_token_credentials(audience, request=request)
    except google.auth.exceptions.DefaultCredentialsError as exc:
        raise AuthError(f"No Google credentials were found ({_first_line(exc)}).", ADC_HINT) from None


def _file_type(path: Path) -> str | None:
    try:
        return json.loads(path.read_text()).get("type")
    except (OSError, ValueError):
        raise AuthError(f"The credentials file {path} cannot be read.", ADC_HINT) from None


def _user_credentials(path: Path) -> Any:
    from google.oauth2 import credentials

    return credentials.Credentials.from_authorized_user_file(str(path))


def _first_line(exc: BaseException) -> str:
    return str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__


class IdTokenSource:
    """A thread-safe, refreshing ID token for one audience."""

    def __init__(
        self,
        audience: str,
        credentials: Any = None,
        *,
        request: Any = None,
        clock: Callable[[], float] = time.time,
        margin: float = 300.0,
    ) -> None:
        self.audience = audience.rstrip("/")
        self._credentials = credentials
        self._request = request
        self._clock = clock
        self.margin = margin
        self._token: str | None = None
        self._expiry = 0.0
        self._lock = threading.Lock()
        self.refreshes = 0

    def __repr__(self) -> str:
        return f"IdTokenSource(audience={self.audience!r})"

    def token(self) -> str:
        with self._lock:
            if self._token is None or self._clock() >= self._expiry - self.margin:
                self._refresh()
            assert self._token is not None
            return self._token

    def invalidate(self) -> None:
        with self._lock:
            self._token = None

    def _refresh(self) -> None:
        import google.auth.exceptions
        import google.auth.transport.requests
        from google.oauth2 import credentials as user_credentials

        request = self._request or google.auth.transport.requests.Request()
        if self._credentials is None:
            self._credentials = discover_credentials(self.audience, request)
        creds = self._credentials
        try:
            creds.refresh(request)
        except (google.auth.exceptions.RefreshError, google.auth.exceptions.TransportError) as exc:
            raise AuthError(f"Getting an ID token failed ({_first_line(exc)}).", ADC_HINT) from None
        is_user = isinstance(creds, user_credentials.Credentials)
        token = creds.id_token if is_user else creds.token
        if not token:
            raise AuthError(
                "These credentials give no ID token.",
                "Log in again with `gcloud auth application-default login`.",
            )
        self._token = token
        self._expiry = _expiry(token, default=self._clock() + 3600)
        self.refreshes += 1


def _expiry(token: str, default: float) -> float:
    from google.auth import jwt

    try:
        return float(jwt.decode(token, verify=False)["exp"])
    except (ValueError, KeyError, TypeError):
        return default


class IdTokenAuth(httpx.Auth):
    """httpx auth: `Authorization: Bearer <ID token>`, with one refresh and retry on 401."""

    requires_request_body = True  # the retry resends the body

    def __init__(self, source: IdTokenSource) -> None:
        self.source = source

    def __repr__(self) -> str:
        return f"IdTokenAuth({self.source!r})"

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        request.headers["Authorization"] = f"Bearer {self.source.token()}"
        response = yield request
        if response.status_code == 401:
            self.source.invalidate()
            request.headers["Authorization"] = f"Bearer {self.source.token()}"
            yield request


class BearerAuth(httpx.Auth):
    """A fixed bearer token (an Ollama behind a proxy)."""

    def __init__(self, token: str) -> None:
        self._token = token

    def __repr__(self) -> str:
        return "BearerAuth(****)"

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        request.headers["Authorization"] = f"Bearer {self._token}"
        yield request
