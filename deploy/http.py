"""The one request path to Google: credentials, AuthorizedSession, error translation."""

from __future__ import annotations

import email.utils
import time
from collections.abc import Callable

import google.auth
import google.auth.exceptions
import requests
from google.auth.transport.requests import AuthorizedSession

from deploy import errors
from deploy.api import ApiRequest
from deploy.config import Endpoints

SCOPES = ("https://www.googleapis.com/auth/cloud-platform",)
_RETRYABLE = {500, 502, 503, 504}
# Reads (polls included) ride out a short 5xx spell: waits of 1, 2, 4, 8 s.
READ_ATTEMPTS = 5
# A rate-limited call was refused, not done, so any method may be sent again: at most
# this many tries and this many seconds of Retry-After waits per call (docs/deploy.md).
RATE_LIMIT_ATTEMPTS = 5
RATE_LIMIT_WAIT_S = 90.0


def load_credentials(scopes: tuple[str, ...] = SCOPES):
    """Application Default Credentials -> (credentials, project or None)."""
    try:
        return google.auth.default(scopes=list(scopes))
    except google.auth.exceptions.DefaultCredentialsError as err:
        raise errors.CredentialsError(
            "No Google Cloud credentials were found on this machine "
            "(Application Default Credentials).", errors.ADC_FIX) from err


class GoogleHttp:
    """Sends ApiRequests with an AuthorizedSession; raises DeployError subclasses."""

    def __init__(self, credentials=None, endpoints: Endpoints | None = None, *,
                 timeout: float = 60.0, sleep: Callable[[float], None] = time.sleep):
        if credentials is None:
            credentials, _ = load_credentials()
        self.credentials = credentials
        self.endpoints = endpoints or Endpoints.from_env()
        self.session = AuthorizedSession(credentials)
        self.timeout = timeout
        self._sleep = sleep

    def send(self, req: ApiRequest, *, headers: dict | None = None) -> dict:
        """JSON body of a successful response ({} when empty)."""
        resp = self._request(req, headers)
        if not resp.content:
            return {}
        try:
            return resp.json()
        except ValueError as err:
            raise errors.DeployError(f"Google answered {req.method} {req.path} with non-JSON.",
                                     "Retry; this is unexpected.") from err

    def send_raw(self, req: ApiRequest, *, headers: dict | None = None,
                 ok_statuses: tuple[int, ...] = ()) -> requests.Response:
        """The raw response (media downloads); statuses in ok_statuses are not errors."""
        return self._request(req, headers, ok_statuses)

    def _request(self, req: ApiRequest, headers: dict | None,
                 ok_statuses: tuple[int, ...] = ()) -> requests.Response:
        url = self.endpoints.base(req.api) + req.path
        attempts = READ_ATTEMPTS if req.method == "GET" else 1  # only reads are safe to repeat
        failures, limited, waited = 0, 0, 0.0
        while True:
            resp = self._once(req, url, headers)
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

    def _once(self, req: ApiRequest, url: str, headers: dict | None) -> requests.Response:
        try:
            return self.session.request(
                req.method, url, params=list(req.params) or None,
                json=req.body, headers=headers, timeout=self.timeout)
        except google.auth.exceptions.RefreshError as err:
            raise errors.CredentialsError(
                f"Could not get an access token from Google: {err}", errors.ADC_FIX) from err
        except requests.RequestException as err:
            raise errors.NetworkError(
                f"Could not reach {url.split('/')[2]}: {err.__class__.__name__}.",
                "Check the network connection (and any proxy), then retry.") from err


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


def _json_or_text(resp: requests.Response):
    try:
        return resp.json()
    except ValueError:
        return resp.text
