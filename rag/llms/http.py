"""The one request path to model servers (Ollama, OpenAI-compatible): client, retries, errors.

Every caller of a model endpoint builds its httpx client here: the app's targets, the
deploy's warm-up and test call, and the load tuner. The client carries a shared verifying
TLS context, timeouts, the caller's auth and, unless the caller counts failures itself,
`RetryTransport`.

A Cloud Run service scaling from zero answers 503 (or 429 when its instances are
full) until an instance is ready. `RetryPolicy` is the one rule for what is retried
and how long to wait (the server's `Retry-After` first, else the schedule), and
`RetryTransport` applies it, bounded, before handing the last response up to be
turned into a clear error. Only responses are retried, never a broken stream: a
half-streamed answer must not be sent twice.

`ModelServer.translate()` (under every `HttpTarget`) is the one place HTTP failures become
sentences; subclasses only choose the words (where, which fix).
"""

from __future__ import annotations

import email.utils
import functools
import ssl
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import httpx

from ..errors import AuthError, ModelError, ModelNotFound, RagError, ServiceStarting, TargetUnreachable
from .base import Target

RETRY_STATUSES = frozenset({429, 503})
TIMEOUT = httpx.Timeout(connect=15.0, read=300.0, write=30.0, pool=30.0)
LIMITS = httpx.Limits(max_connections=100, max_keepalive_connections=20)  # httpx's own defaults


@dataclass(frozen=True)
class RetryPolicy:
    """What is retried, how often, and how long to wait in between."""

    statuses: frozenset[int] = RETRY_STATUSES
    retries: int = 4
    backoff: float = 1.0  # the first wait; it doubles after each try
    max_wait: float = 20.0
    waits: tuple[float, ...] = ()  # a fixed schedule instead of doubling (then retries = len(waits))
    connection: bool = False  # retry a connection that failed too (a service not up yet)

    def wait(self, attempt: int, response: httpx.Response | None) -> float | None:
        """Seconds to wait after try `attempt` (from 0) got `response` (None: no connection),
        or None when that outcome is final."""
        limit = len(self.waits) if self.waits else self.retries
        if attempt >= limit:
            return None
        if response is None:
            if not self.connection:
                return None
            wait = None
        elif response.status_code in self.statuses:
            wait = retry_after(response.headers.get("Retry-After"))
        else:
            return None
        if wait is None:
            wait = self.waits[attempt] if self.waits else self.backoff * 2**attempt
        return min(wait, self.max_wait)


class RetryTransport(httpx.BaseTransport):
    def __init__(
        self,
        policy: RetryPolicy | None = None,
        *,
        inner: httpx.BaseTransport | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.policy = policy or RetryPolicy()
        self.inner = inner or httpx.HTTPTransport(verify=ssl_context())
        self.sleep = sleep
        self.retried = 0

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        attempt = 0
        while True:
            try:
                response = self.inner.handle_request(request)
            except httpx.ConnectError:
                wait = self.policy.wait(attempt, None)
                if wait is None:
                    raise
            else:
                wait = self.policy.wait(attempt, response)
                if wait is None:
                    return response
                response.close()
            self.sleep(wait)
            attempt += 1
            self.retried += 1

    def close(self) -> None:
        self.inner.close()


@functools.cache
def ssl_context() -> ssl.SSLContext:
    """One verifying TLS context for every client: building one loads the CA bundle, and each
    chat builds a client. (Two threads may both build it at first use; either one serves.)"""
    return httpx.create_ssl_context()


def transport(
    retry: RetryPolicy | None, *, connections: int | None = None, sleep: Callable[[float], None] = time.sleep
) -> httpx.BaseTransport:
    """The transport of every model client: verifying TLS, a pool, and `retry` (None: no retries)."""
    limits = httpx.Limits(max_connections=connections, max_keepalive_connections=connections)
    inner = httpx.HTTPTransport(verify=ssl_context(), limits=limits if connections else LIMITS)
    return inner if retry is None else RetryTransport(retry, inner=inner, sleep=sleep)


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


class ModelServer:
    """A model server's URL and auth: its client, its retry policy, and `translate()`.
    Subclasses choose the words (where it is, which fix); `HttpTarget` adds the chat."""

    def __init__(
        self, url: str, *, auth: httpx.Auth | None = None, retries: int = 4, backoff: float = 1.0
    ) -> None:
        self.url = url.rstrip("/")
        self.auth = auth
        self.retries = retries
        self.backoff = backoff

    @property
    def retry_policy(self) -> RetryPolicy:
        return RetryPolicy(retries=self.retries, backoff=self.backoff)

    def client_kwargs(
        self,
        *,
        retrying: bool = True,
        timeout: httpx.Timeout | float = TIMEOUT,
        connections: int | None = None,
    ) -> dict[str, Any]:
        """httpx.Client arguments: auth, timeouts and the transport (retrying unless told not to)."""
        retry = self.retry_policy if retrying else None
        kwargs: dict[str, Any] = {"timeout": timeout, "transport": transport(retry, connections=connections)}
        if self.auth is not None:
            kwargs["auth"] = self.auth
        return kwargs

    def async_client_kwargs(self) -> dict[str, Any]:
        """httpx.AsyncClient arguments: the client's auth and timeout with the shared TLS
        context (an async client cannot take the sync transport, so it does not retry)."""
        kwargs = self.client_kwargs()
        kwargs.pop("transport")
        return {**kwargs, "verify": ssl_context()}

    def client(
        self,
        *,
        retrying: bool = True,
        timeout: httpx.Timeout | float = TIMEOUT,
        connections: int | None = None,
    ) -> httpx.Client:
        """The client for this server; `retrying=False` for callers that count or retry failures
        themselves (the load tuner, the deploy's warm-up, the Deploy page's single test call)."""
        kwargs = self.client_kwargs(retrying=retrying, timeout=timeout, connections=connections)
        return httpx.Client(base_url=self.url, **kwargs)

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
            return self.timeout_error(model)
        if isinstance(exc, (httpx.TransportError, ConnectionError)):
            return self.unreachable_error()
        if isinstance(exc, NotJson):
            return ModelError(
                f"{self.where()} answered {exc.status} with something that is not JSON.", self.not_json_fix()
            )
        status, message = self.status_of(exc)
        return self.status_error(status, message, model)

    def timeout_error(self, model: str) -> RagError:
        return TargetUnreachable(f"{self.where()} did not answer in time.", self.unreachable_fix())

    def unreachable_error(self) -> RagError:
        return TargetUnreachable(f"Cannot reach {_mid_sentence(self.where())}.", self.unreachable_fix())

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


class HttpTarget(ModelServer, Target):
    """A model behind an HTTP API: subclasses say how to talk to it and where it is."""


def _mid_sentence(where: str) -> str:
    """`where()` starts a sentence; inside one, its leading article is lower case."""
    return "the" + where[3:] if where.startswith("The ") else where


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


def status_failure(response: httpx.Response) -> httpx.HTTPStatusError:
    """Any answer that is not what the caller wanted (not only 4xx/5xx), as the error `translate()`
    reads."""
    return httpx.HTTPStatusError(f"HTTP {response.status_code}", request=response.request, response=response)


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
