"""The one request path to Google: credentials, AuthorizedSession, error translation.

Every call to a Google API goes through `GoogleHttp`: one `requests` session that
google-auth's `AuthorizedSession` signs with the caller's credentials (refreshing them
through the same session's transport), bounded retries, and `deploy.errors.from_http`,
so callers only ever see `DeployError` subclasses.
"""

from __future__ import annotations

import email.utils
import time
from collections.abc import Callable
from typing import Any

import google.auth
import google.auth.exceptions
import requests
from google.auth.credentials import Credentials
from google.auth.transport.requests import AuthorizedSession, Request

from . import errors
from .api import ApiRequest
from .config import Endpoints

SCOPES = ("https://www.googleapis.com/auth/cloud-platform",)
_RETRYABLE = {500, 502, 503, 504}
# Reads (polls included) ride out a short 5xx spell: waits of 1, 2, 4, 8 s.
READ_ATTEMPTS = 5
# A rate-limited call was refused, not done, so any method may be sent again: at most
# this many tries and this many seconds of Retry-After waits per call (docs/deploy.md).
RATE_LIMIT_ATTEMPTS = 5
RATE_LIMIT_WAIT_S = 90.0


def load_credentials(scopes: tuple[str, ...] = SCOPES) -> tuple[Credentials, str | None]:
    """Application Default Credentials -> (credentials, project or None)."""
    try:
        return google.auth.default(scopes=list(scopes))
    except google.auth.exceptions.DefaultCredentialsError as err:
        raise errors.CredentialsError(
            "No Google Cloud credentials were found on this machine (Application Default Credentials).",
            errors.ADC_FIX,
        ) from err


class GoogleHttp:
    """Sends ApiRequests with an AuthorizedSession; raises DeployError subclasses."""

    def __init__(
        self,
        credentials: Credentials | None = None,
        endpoints: Endpoints | None = None,
        *,
        timeout: float = 60.0,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if credentials is None:
            credentials, _ = load_credentials()
        self.credentials = credentials
        self.endpoints = endpoints or Endpoints.from_env()
        self.auth_request = Request()  # google-auth's transport for token refreshes
        self.session = AuthorizedSession(credentials, auth_request=self.auth_request)
        self.timeout = timeout
        self._sleep = sleep

    def send(self, req: ApiRequest, *, headers: dict[str, str] | None = None) -> dict[str, Any]:
        """JSON body of a successful response ({} when empty)."""
        return _json(self._request(req, headers), f"{req.method} {req.path}")

    def send_raw(
        self, req: ApiRequest, *, headers: dict[str, str] | None = None, ok_statuses: tuple[int, ...] = ()
    ) -> requests.Response:
        """The raw response (media downloads); statuses in ok_statuses are not errors."""
        return self._request(req, headers, ok_statuses)

    def refresh(self) -> None:
        """Refresh the credentials now (they fetch a new access token, and more, when they do)."""
        try:
            self.credentials.refresh(self.auth_request)
        except google.auth.exceptions.RefreshError as err:
            raise errors.CredentialsError(
                f"Could not get an access token from Google: {err}", errors.ADC_FIX
            ) from err
        except google.auth.exceptions.TransportError as err:
            raise _network_error("Google's token service", err) from err

    def token_info(self) -> dict[str, Any]:
        """What Google's tokeninfo endpoint says about the current access token (its email)."""
        if not self.credentials.valid:
            self.refresh()
        url = self.endpoints.tokeninfo
        resp = self._once("GET", url, params={"access_token": self.credentials.token})
        if resp.status_code >= 400:
            raise errors.from_http(resp.status_code, _json_or_text(resp))
        return _json(resp, "GET tokeninfo")

    def _request(
        self, req: ApiRequest, headers: dict[str, str] | None, ok_statuses: tuple[int, ...] = ()
    ) -> requests.Response:
        url = self.endpoints.base(req.api) + req.path
        attempts = READ_ATTEMPTS if req.method == "GET" else 1  # only reads are safe to repeat
        failures, limited, waited = 0, 0, 0.0
        while True:
            resp = self._once(
                req.method, url, params=list(req.params) or None, body=req.body, headers=headers
            )
            if resp.status_code < 400 or resp.status_code in ok_statuses:
                return resp
            if resp.status_code in _RETRYABLE and failures + 1 < attempts:
                self._sleep(2**failures)
                failures += 1
                continue
            err = errors.from_http(resp.status_code, _json_or_text(resp), req.context)
            if not isinstance(err, errors.RateLimitError):
                raise err
            wait = retry_after(resp, default=2.0**limited)
            err.retry_after = wait
            if limited + 1 >= RATE_LIMIT_ATTEMPTS or waited + wait > RATE_LIMIT_WAIT_S:
                err.message += f" (gave up after {limited + 1} tries and {waited:.0f} s of waiting)"
                raise err
            self._sleep(wait)
            limited, waited = limited + 1, waited + wait

    def _once(
        self,
        method: str,
        url: str,
        *,
        params: Any = None,
        body: Any = None,
        headers: dict[str, str] | None = None,
    ) -> requests.Response:
        """One request: a failed token refresh or no connection is a DeployError."""
        try:
            return self.session.request(
                method, url, params=params, json=body, headers=headers, timeout=self.timeout
            )
        except google.auth.exceptions.RefreshError as err:
            raise errors.CredentialsError(
                f"Could not get an access token from Google: {err}", errors.ADC_FIX
            ) from err
        except google.auth.exceptions.TransportError as err:  # refreshing the token first
            raise _network_error("Google's token service", err) from err
        except requests.RequestException as err:
            raise _network_error(url.split("/")[2], err) from err


def _network_error(where: str, err: Exception) -> errors.NetworkError:
    return errors.NetworkError(
        f"Could not reach {where}: {err.__class__.__name__}.",
        "Check the network connection (and any proxy), then retry.",
    )


def retry_after(resp: requests.Response, default: float) -> float:
    """Seconds to wait from a Retry-After header (seconds or an HTTP date), else `default`."""
    value = resp.headers.get("Retry-After", "").strip()
    if not value:
        return default
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return default
    return max(0.0, when.timestamp() - time.time())


def _json(resp: requests.Response, what: str) -> dict[str, Any]:
    if not resp.content:
        return {}
    try:
        return resp.json()
    except ValueError as err:
        raise errors.DeployError(
            f"Google answered {what} with non-JSON.", "Retry; this is unexpected."
        ) from err


def _json_or_text(resp: requests.Response) -> Any:
    try:
        return resp.json()
    except ValueError:
        return resp.text
