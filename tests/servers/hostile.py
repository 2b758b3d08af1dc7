"""A hostile web server on loopback: what an attacker (or a broken site) serves.

Routes (query parameters in brackets):
- `/secret`: a page that must never be fetched in hosted mode (the SSRF target).
- `/page`: an ordinary page, "public" content.
- `/redirect?to=L`: a 302 whose Location is exactly `L`, unencoded (backslashes, `@`...).
- `/drip-body[?interval=S]`: headers at once, then one body byte every S seconds.
- `/drip-headers[?interval=S]`: the status line, then one header byte every S seconds.
- `/deep?n=N`: N nested `<div>`s around a paragraph; `/unclosed?n=N`: N×5 unclosed tags.
- `/random?type=T`: 1 MB of random bytes labelled T (`none`: no Content-Type).
- `/utf16[?bom=1]`: an HTML page in UTF-16 with no charset label (a BOM only with bom=1).

Every request is recorded (`hits`: path, `hosts`: Host header); a drip records when
its client went away (`gone`: path → time.monotonic()). Drips stop on their own
after `max_drip` seconds, and at once when the server closes.
"""

from __future__ import annotations

import random
import socket
import ssl
import threading
import time
from http.server import ThreadingHTTPServer
from typing import Any, ClassVar
from urllib.parse import parse_qs, urlsplit

from .base import LocalServer, QuietHandler, _Server

SECRET = (
    b"<html><head><title>Secret</title></head><body><h1>Secret</h1>"
    b"<p>TOP SECRET token 7f3a.</p></body></html>"
)
PAGE = (
    b"<html><head><title>Public page</title></head><body><h1>Public page</h1>"
    b"<p>Cloud Run services with an L4 GPU need at least 4 CPUs and 16 GiB of memory.</p></body></html>"
)
UTF16_PAGE = (
    "<html><head><title>Wide page</title></head><body><h1>Wide page</h1>"
    "<p>This page is encoded in UTF-16 and says so with nothing but its bytes.</p></body></html>"
)


class HostileHandler(QuietHandler):
    hits: ClassVar[list[str]] = []
    hosts: ClassVar[list[str]] = []
    gone: ClassVar[dict[str, float]] = {}
    stop: ClassVar[threading.Event] = threading.Event()
    max_drip: ClassVar[float] = 60.0

    def do_GET(self) -> None:
        parts = urlsplit(self.path)
        self.hits.append(parts.path)
        self.hosts.append(self.headers.get("Host", ""))
        query = {k: v[-1] for k, v in parse_qs(parts.query).items()}
        route = getattr(self, "route_" + parts.path.strip("/").replace("-", "_"), None)
        if route is None:
            self.send_body(404, b"<html><body>Not found</body></html>")
            return
        route(query)

    def send_body(
        self, status: int, body: bytes, content_type: str | None = "text/html", **headers: str
    ) -> None:
        self.send_response(status)
        if content_type:
            self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        for key, value in headers.items():
            self.send_header(key, value)
        self.end_headers()
        self.wfile.write(body)

    def route_secret(self, query: dict[str, str]) -> None:
        self.send_body(200, SECRET)

    def route_page(self, query: dict[str, str]) -> None:
        self.send_body(200, PAGE)

    def route_redirect(self, query: dict[str, str]) -> None:
        self.send_response(302)
        self.send_header("Location", query["to"])
        self.send_header("Content-Length", "0")
        self.end_headers()

    def route_drip_body(self, query: dict[str, str]) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "text/html")
        self.send_header("Content-Length", "100000")
        self.end_headers()
        self.wfile.flush()
        self._drip(b"<html><body><p>" + b"x" * 99_985, float(query.get("interval", 1.0)))

    def route_drip_headers(self, query: dict[str, str]) -> None:
        self.wfile.write(b"HTTP/1.1 200 OK\r\n")
        self._drip(b"X-Drip: " + b"a" * 60_000, float(query.get("interval", 1.0)))

    def _drip(self, data: bytes, interval: float) -> None:
        ends = time.monotonic() + self.max_drip
        for byte in data:
            if self.stop.wait(interval) or time.monotonic() > ends:
                return
            try:
                self.wfile.write(bytes([byte]))
                self.wfile.flush()
            except OSError:  # the client hung up: that is what the tests wait for
                self.gone[urlsplit(self.path).path] = time.monotonic()
                self.close_connection = True
                return

    def route_deep(self, query: dict[str, str]) -> None:
        n = int(query.get("n", 100_000))
        body = b"<html><body>" + b"<div>" * n + b"<p>deep text</p>" + b"</div>" * n + b"</body></html>"
        self.send_body(200, body)

    def route_unclosed(self, query: dict[str, str]) -> None:
        n = int(query.get("n", 50_000))
        body = b"<html><body>" + b"<div><span><b><i><em>text " * n + b"</body></html>"
        self.send_body(200, body)

    def route_random(self, query: dict[str, str]) -> None:
        body = random.Random(11).randbytes(1_000_000)
        kind = query.get("type", "text/html")
        self.send_body(200, body, None if kind == "none" else kind)

    def route_utf16(self, query: dict[str, str]) -> None:
        codec = "utf-16" if query.get("bom") == "1" else "utf-16-le"
        self.send_body(200, UTF16_PAGE.encode(codec))


class _Server6(_Server):
    address_family = socket.AF_INET6


class HostileServer(LocalServer):
    """The hostile site on `host` (127.0.0.1 by default; `::1` and `127.0.0.2` work too)."""

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        max_drip: float = 60.0,
        tls: ssl.SSLContext | None = None,
    ) -> None:
        attrs: dict[str, Any] = {
            "hits": [],
            "hosts": [],
            "gone": {},
            "stop": threading.Event(),
            "max_drip": max_drip,
        }
        self.handler: type[HostileHandler] = type("Handler", (HostileHandler,), attrs)
        server_class: type[ThreadingHTTPServer] = _Server6 if ":" in host else _Server
        self.httpd = server_class((host, port), self.handler)
        self.scheme = "https" if tls else "http"
        if tls is not None:
            self.httpd.socket = tls.wrap_socket(self.httpd.socket, server_side=True)
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    @property
    def port(self) -> int:
        return int(self.httpd.server_address[1])

    @property
    def url(self) -> str:
        host = str(self.httpd.server_address[0])
        host = f"[{host}]" if ":" in host else host
        return f"{self.scheme}://{host}:{self.port}"

    @property
    def hits(self) -> list[str]:
        return self.handler.hits

    @property
    def hosts(self) -> list[str]:
        return self.handler.hosts

    @property
    def gone(self) -> dict[str, float]:
        return self.handler.gone

    def __exit__(self, *exc: object) -> None:
        self.handler.stop.set()
        super().__exit__(*exc)
