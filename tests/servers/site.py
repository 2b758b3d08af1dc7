"""A static web site on loopback: a folder of pages, plus misbehaving routes.

Serves `root` like any web server (correct Content-Type and Content-Length),
optionally adding `delay` seconds to every response as a real site over a
network would. `extra` maps paths to handlers for the failure cases: errors,
redirect loops, PDFs, oversized and empty pages, stalls. `per_second` throttles: requests
beyond it within a second are answered 429 Too Many Requests; `down` answers every
request 503.
"""

from __future__ import annotations

import collections
import functools
import threading
import time
from collections.abc import Callable
from http.server import SimpleHTTPRequestHandler
from pathlib import Path
from typing import Any, ClassVar

from .base import LocalServer

Route = Callable[[SimpleHTTPRequestHandler], None]


class SiteHandler(SimpleHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    delay = 0.0
    extra: ClassVar[dict[str, Route]] = {}
    hits: ClassVar[list[str]] = []
    per_second = 0  # more requests than this within one second are answered 429, as a throttling site does
    down = False  # every request answered 503, as a site down behind its proxy is
    started: ClassVar[collections.deque[float]] = collections.deque()
    lock: ClassVar[threading.Lock] = threading.Lock()

    def _over_rate(self) -> bool:
        now = time.monotonic()
        with self.lock:
            while self.started and self.started[0] <= now - 1.0:
                self.started.popleft()
            if len(self.started) >= self.per_second:
                return True
            self.started.append(now)
            return False

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def do_GET(self) -> None:
        self.hits.append(self.path)
        if self.delay:
            time.sleep(self.delay)
        if self.down:
            reply(503, b"Service Unavailable")(self)
            return
        if self.per_second and self._over_rate():
            reply(429, b"Too many requests", Retry_After="1")(self)
            return
        route = self.extra.get(self.path.split("?")[0])
        if route is not None:
            route(self)
            return
        super().do_GET()


def reply(status: int, body: bytes = b"", content_type: str | None = "text/html", **headers: str) -> Route:
    def route(handler: SimpleHTTPRequestHandler) -> None:
        handler.send_response(status)
        if content_type:
            handler.send_header("Content-Type", content_type)
        handler.send_header("Content-Length", str(len(body)))
        for key, value in headers.items():
            handler.send_header(key.replace("_", "-"), value)
        handler.end_headers()
        handler.wfile.write(body)

    return route


def stall(seconds: float) -> Route:
    def route(handler: SimpleHTTPRequestHandler) -> None:
        time.sleep(seconds)
        reply(200, b"<html><body><p>late</p></body></html>")(handler)

    return route


class SiteServer(LocalServer):
    def __init__(
        self,
        root: Path,
        *,
        delay: float = 0.0,
        extra: dict[str, Route] | None = None,
        per_second: int = 0,
        down: bool = False,
    ) -> None:
        state = {
            "extra": dict(extra or {}),
            "hits": [],
            "started": collections.deque(),
            "lock": threading.Lock(),
        }
        limits = {"delay": delay, "per_second": per_second, "down": down}
        handler = type("Handler", (SiteHandler,), {**limits, **state})
        self.handler = handler
        super().__init__(functools.partial(handler, directory=str(root)))

    @property
    def hits(self) -> list[str]:
        return self.handler.hits
