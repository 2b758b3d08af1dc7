"""The one request path to Google: credentials, AuthorizedSession, error translation."""

from __future__ import annotations

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
        attempts = 3 if req.method == "GET" else 1  # only reads are safe to repeat
        for attempt in range(attempts):
            resp = self._once(req, url, headers)
            if resp.status_code not in _RETRYABLE or attempt == attempts - 1:
                break
            self._sleep(2**attempt)
        if resp.status_code >= 400 and resp.status_code not in ok_statuses:
            raise errors.from_http(resp.status_code, _json_or_text(resp), req.context)
        return resp

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


def _json_or_text(resp: requests.Response):
    try:
        return resp.json()
    except ValueError:
        return resp.text
