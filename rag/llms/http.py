"""The HTTP layer under every Ollama request: retries for a cold or busy server.

A Cloud Run service scaling from zero answers 503 (or 429 when its instances are
full) until an instance is ready. `RetryTransport` waits and tries again a
bounded number of times, honouring `Retry-After`, before handing the last
response up to be turned into a clear error. Only responses are retried, never
a broken stream: a half-streamed answer must not be sent twice.
"""

from __future__ import annotations

import email.utils
import time
from collections.abc import Callable

import httpx

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
        self.inner = inner or httpx.HTTPTransport()
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
