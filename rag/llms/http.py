"""The HTTP layer under every remote target (Ollama, OpenAI-compatible): retries and errors.

A Cloud Run service scaling from zero answers 503 (or 429 when its instances are
full) until an instance is ready. `RetryTransport` waits and tries again a
bounded number of times, honouring `Retry-After`, before handing the last
response up to be turned into a clear error. Only responses are retried, never
a broken stream: a half-streamed answer must not be sent twice.

`HttpTarget` is what the remote targets share: auth, timeouts, the retrying
transport, and `translate()`, the one place HTTP failures become sentences.
"""

from __future__ import annotations

import email.utils
import functools
import ssl
import time
from collections.abc import Callable
from typing import Any

import httpx

from ..errors import AuthError, ModelError, ModelNotFound, RagError, ServiceStarting, TargetUnreachable
from .base import Target

RETRY_STATUSES = frozenset({429, 503})
TIMEOUT = httpx.Timeout(connect=15.0, read=300.0, write=30.0, pool=30.0)


class RetryTransport(httpx.BaseTransport):
    def __init__(
        self,
        inner: httpx.BaseTransport | None = None,
        *,
        retries: int = 4,
        backoff: float = 1.0,
        max_wait: float = 20.0,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.inner = inner or httpx.HTTPTransport(verify=ssl_context())
        self.retries = retries
        self.backoff = backoff
        self.max_wait = max_wait
        self.sleep = sleep
        self.retried = 0

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        attempt = 0
        while True:
            response = self.inner.handle_request(request)
            if response.status_code not in RETRY_STATUSES or attempt >= self.retries:
                return response
            wait = retry_after(response.headers.get("Retry-After"))
            if wait is None:
                wait = self.backoff * 2**attempt
            response.close()
            self.sleep(min(wait, self.max_wait))
            attempt += 1
            self.retried += 1

    def close(self) -> None:
        self.inner.close()


@functools.cache
def ssl_context() -> ssl.SSLContext:
    """One verifying TLS context for every client: building one loads the CA bundle, and each
    chat builds a client. (Two threads may both build it at first use; either one serves.)"""
    return httpx.create_ssl_context()


def retry_after(value: str | None) -> float | None:
    """Seconds from a Retry-After header (delta-seconds or an HTTP date)."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())


class HttpTarget(Target):
    """A model behind an HTTP API: subclasses say how to talk to it and where it is."""

    def __init__(
        self, url: str, *, auth: httpx.Auth | None = None, retries: int = 4, backoff: float = 1.0
    ) -> None:
        self.url = url.rstrip("/")
        self.auth = auth
        self.retries = retries
        self.backoff = backoff

    def client_kwargs(self) -> dict[str, Any]:
        """httpx.Client arguments: auth, timeouts and the retrying transport."""
        kwargs: dict[str, Any] = {
            "timeout": TIMEOUT,
            "transport": RetryTransport(retries=self.retries, backoff=self.backoff),
        }
        if self.auth is not None:
            kwargs["auth"] = self.auth
        return kwargs

    def client(self) -> httpx.Client:
        return httpx.Client(base_url=self.url, **self.client_kwargs())

    # How failures are told: subclasses name the place and the fixes ----------

    def where(self) -> str:
        return f"The server at {self.url}"

    def unreachable_fix(self) -> str:
        return "Check that the server is running there and that the URL and port are right."

    def missing_model_fix(self, model: str) -> str:
        return "Pick a model the server has."

    def auth_fix(self) -> str:
        return "Check the token the server expects."

    def not_json_fix(self) -> str:
        return "Check that the URL points at the model server itself, not a proxy's login or error page."

    def status_of(self, exc: BaseException) -> tuple[int, str]:
        """(HTTP status, the server's message) of a client library's error; -1 when not HTTP."""
        if isinstance(exc, httpx.HTTPStatusError):
            return exc.response.status_code, error_text(exc.response)
        return -1, str(exc)

    def translate(self, exc: BaseException, model: str) -> RagError:
        """The one place HTTP failures become sentences with a fix."""
        if isinstance(exc, RagError):
            return exc
        if isinstance(exc, httpx.TimeoutException):
            return TargetUnreachable(f"{self.where()} did not answer in time.", self.unreachable_fix())
        if isinstance(exc, (httpx.TransportError, ConnectionError)):
            return TargetUnreachable(f"Cannot reach {self.where()}.", self.unreachable_fix())
        if isinstance(exc, NotJson):
            return ModelError(
                f"{self.where()} answered {exc.status} with something that is not JSON.", self.not_json_fix()
            )
        status, message = self.status_of(exc)
        return self.status_error(status, message, model)

    def status_error(self, status: int, message: str, model: str) -> RagError:
        lowered = message.lower()
        if status == 404 and ("not found" in lowered or "does not exist" in lowered):
            return ModelNotFound(
                f"{self.where()} does not have the model {model}.", self.missing_model_fix(model)
            )
        if status in (401, 403):
            return AuthError(f"{self.where()} refused the request ({status}: {message}).", self.auth_fix())
        if status in (429, 503):
            return ServiceStarting(
                f"{self.where()} is still starting or is busy ({status}), even after retrying.",
                "Wait a minute and ask again; a cold GPU instance takes a while to load the model.",
            )
        if status == -1:
            return ModelError(
                f"The model stopped with an error: {message}",
                "Ask again; check the server's logs if it repeats.",
            )
        return ModelError(f"{self.where()} answered {status}: {message}", "Check the server's logs.")


class NotJson(ValueError):
    """A 2xx answer whose body is not the JSON the API promises (a proxy's HTML page, say)."""

    def __init__(self, status: int) -> None:
        super().__init__(f"HTTP {status}: not JSON")
        self.status = status


def json_of(response: httpx.Response) -> Any:
    """The body of a successful answer as JSON: HTTPStatusError for a failure, NotJson for junk."""
    response.raise_for_status()
    try:
        return response.json()
    except ValueError:
        raise NotJson(response.status_code) from None


def error_text(response: httpx.Response) -> str:
    """The server's own words from an error body (Ollama, OpenAI or FastAPI shapes), else its text."""
    try:
        response.read()  # a streamed error answer is not read yet
        body = response.json()
    except httpx.StreamError:
        return response.reason_phrase
    except ValueError:
        return response.text[:200].strip() or response.reason_phrase
    if isinstance(body, dict):
        error = body.get("error", body.get("message", body.get("detail")))
        if isinstance(error, dict):
            error = error.get("message", error)
        if error is not None:
            return str(error)[:500]
    return str(body)[:200]
