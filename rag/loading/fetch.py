"""Fetching one URL over HTTP, within bounds.

One request path for every page, robots.txt and sitemap: a deadline for the
whole fetch (connect, headers and body; see deadline.py) that a cancel event
also ends, a size cap, redirects followed by hand (so each hop is parsed and
checked again by the URL policy, and loops are caught), a content-type check,
and a decode that refuses binary or undecodable bodies. A busy answer (429,
502-504) is asked again after growing pauses, within the same deadline. Each hop
connects to the addresses the URL policy resolved and checked, never to a second
DNS answer; the Host header and the TLS name stay the URL's own. Every failure is a
`FetchError` with a short reason code and a sentence; nothing else escapes.
"""

from __future__ import annotations

import codecs
import http.client
import random
import re
import threading
import time
from dataclasses import dataclass
from http import HTTPStatus
from pathlib import Path
from urllib.parse import urldefrag, urlsplit
from urllib.request import url2pathname

import certifi
import urllib3
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.response import HTTPResponse

from ..errors import FetchError
from . import urlpolicy
from .deadline import Watch, watched
from .urlpolicy import Target, check_url, join_url

HTML_TYPES = {"text/html", "application/xhtml+xml"}
TEXT_TYPES = {"text/markdown", "text/x-markdown", "text/plain"}
XML_TYPES = {"text/xml", "application/xml"}
REDIRECTS = {301, 302, 303, 307, 308}
FILE_TYPES = {
    ".html": "text/html",
    ".htm": "text/html",
    ".xhtml": "application/xhtml+xml",
    ".md": "text/markdown",
    ".markdown": "text/markdown",
    ".txt": "text/plain",
    ".pdf": "application/pdf",
    ".png": "image/png",
    ".jpg": "image/jpeg",
}
CHUNK = 16 * 1024
CONNECT_S = 10.0  # per address, within the fetch's deadline
ACCEPT_ENCODING = urllib3.util.make_headers(accept_encoding=True)["accept-encoding"]


@dataclass(frozen=True)
class FetchConfig:
    timeout: float = 20.0  # the whole fetch: connect, headers, body, every redirect
    max_bytes: int = 5_000_000
    max_redirects: int = 10
    concurrency: int = 8
    user_agent: str = "workshop-rag/1.0"
    allow_private: bool = True  # loopback/private hosts (off when hosted)
    allow_files: bool = True  # file:// URLs (off when hosted)
    ca_certs: str | None = None  # trusted CAs for https; None: certifi's bundle
    busy_waits: tuple[float, ...] = (0.5, 1.0, 2.0, 4.0)  # seconds before each new try after a busy answer


# Answers that say "busy, try again" (FetchConfig.busy_waits: the pauses before asking again,
# or longer where the server's Retry-After asks for it, up to MAX_RETRY_AFTER seconds).
BUSY = frozenset({"http-429", "http-502", "http-503", "http-504"})
MAX_RETRY_AFTER = 10.0
BUSY_STEP = 0.2  # seconds between the fetches let in after a pause
BUSY_STREAK = 16  # busy answers in a row, with no page between, that say the site is down


@dataclass(frozen=True)
class Fetched:
    url: str  # as asked for (or as the last redirect's Location joined to its hop), no fragment
    content_type: str  # lower-case media type without parameters
    encoding: str | None
    body: bytes
    text: str = ""  # the body decoded (HTML, Markdown, plain text, XML)
    checked: str = ""  # the URL the request went to: host as IDNA, path and query %-encoded

    @property
    def is_html(self) -> bool:
        return self.content_type in HTML_TYPES


class _Watched:
    """Connections that hand every socket they open to the fetch's watch."""

    watch: Watch

    def _new_conn(self):  # type: ignore[no-untyped-def]
        sock = super()._new_conn()  # type: ignore[misc]
        self.watch.attach(sock)
        return sock


class _HTTP(_Watched, HTTPConnection):
    pass


class _HTTPS(_Watched, HTTPSConnection):
    pass


class _Busy:
    """Until when each host asked to be left alone (a busy answer's pause), and how many busy
    answers it gave in a row: shared by one fetcher's threads."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._until: dict[str, float] = {}
        self._streak: dict[str, int] = {}

    def hold(self, host: str, seconds: float) -> None:
        with self._lock:
            self._until[host] = max(self._until.get(host, 0.0), time.monotonic() + seconds)
            self._streak[host] = self._streak.get(host, 0) + 1

    def answered(self, host: str) -> None:
        with self._lock:
            self._streak.pop(host, None)

    def down(self, host: str) -> bool:
        """Busy answers, and nothing else, this many times in a row: a site that is down, not
        throttling; its pages fail at once instead of each waiting out its pauses."""
        with self._lock:
            return self._streak.get(host, 0) >= BUSY_STREAK

    def wait(self, host: str) -> float:
        """How long to wait before asking `host`; while it is held, each caller is let in a
        step after the one before, so the workers do not all come back at once."""
        with self._lock:
            until = self._until.get(host, 0.0)
            left = until - time.monotonic()
            if left <= 0:
                return 0.0
            self._until[host] = until + BUSY_STEP
            return left


def _pause(url: str, seconds: float, watch: Watch) -> None:
    """Sleep `seconds` (a stop ends it), never past the fetch's deadline."""
    seconds = min(seconds, max(0.0, watch.remaining()))
    if seconds <= 0:
        return
    if watch.cancel is not None:
        if watch.cancel.wait(seconds):
            raise _cancelled(url)
    else:
        time.sleep(seconds)


class Fetcher:
    """Thread-safe; each hop opens its own connection. The one state between fetches is
    which hosts asked, with a busy answer, to be left alone for a while."""

    def __init__(self, config: FetchConfig | None = None) -> None:
        self.config = config or FetchConfig()
        self._busy = _Busy()

    def close(self) -> None:
        """Nothing is pooled (each connection goes to the address checked for it)."""

    def get(
        self, url: str, *, accept: frozenset[str] | None = None, cancel: threading.Event | None = None
    ) -> Fetched:
        """Fetch a page; `accept` narrows the media types (default: HTML and text)."""
        accept = accept or frozenset(HTML_TYPES | TEXT_TYPES)
        if url.startswith("file://"):
            return self._file(url, accept)
        if cancel is not None and cancel.is_set():
            raise _cancelled(url)
        with watched(self.config.timeout, cancel) as watch:
            try:
                return self._get_patiently(url, accept, watch)
            except FetchError:
                if watch.fired:  # the error is what the watchdog's shutdown looked like
                    raise _fired(url, watch, self.config.timeout) from None
                raise
            except (OSError, ValueError, http.client.HTTPException, urllib3.exceptions.HTTPError) as exc:
                if watch.fired:
                    raise _fired(url, watch, self.config.timeout) from None
                raise _broken(url, exc, self.config.timeout) from None  # nothing else escapes

    def get_text(self, url: str, cancel: threading.Event | None = None) -> str | None:
        """robots.txt and sitemaps: the body as text, or None when it is absent or unusable."""
        try:
            return self.get(url, accept=frozenset({"text/plain", *XML_TYPES}), cancel=cancel).text
        except FetchError:
            return None

    def _get_patiently(self, url: str, accept: frozenset[str], watch: Watch) -> Fetched:
        """`_get`, asked again when the server says it is busy (429, 502-504): a site that
        throttles a burst of fetches would otherwise lose pages from the index. A busy
        answer holds every fetch to that host for the pause, so the loader's workers slow
        down together; every try runs within the page's one deadline."""
        host = urlsplit(url).netloc.lower()
        pauses = iter(self.config.busy_waits)
        while True:
            held = 0.0 if self._busy.down(host) else self._busy.wait(host)  # down: one try, at once
            if held < watch.remaining() - 0.1:  # else try now rather than fail at the deadline
                _pause(url, held, watch)
            try:
                fetched = self._get(url, accept, watch)
            except FetchError as exc:
                pause = next(pauses, None)
                if exc.reason not in BUSY or pause is None or self._busy.down(host):
                    raise
                # jittered, so pages refused together do not all come back together
                wait = max(exc.retry_after, pause * random.uniform(0.5, 1.5))
                if wait >= watch.remaining() - 0.1:
                    raise
                self._busy.hold(host, wait)
                continue
            self._busy.answered(host)
            return fetched

    def _get(self, url: str, accept: frozenset[str], watch: Watch) -> Fetched:
        asked, target, conn, response = self._follow(url, watch)
        try:
            _raise_for_status(url, response)
            media, encoding = _content_type(response)
            if media:
                _check_type(url, media, accept)  # before downloading a large PDF
            body = self._read(url, response)
        finally:
            conn.close()
        if watch.fired:  # a close-delimited body cut by the watchdog looks complete
            raise _fired(url, watch, self.config.timeout)
        if not media:
            media = sniff(body)
            _check_type(url, media, accept)
        text = decode(url, body, encoding, media)
        page = urldefrag(asked)[0]  # a fragment names a place in the page, not the page
        return Fetched(page, media, encoding, body, text, checked=target.url)

    def _follow(self, url: str, watch: Watch) -> tuple[str, Target, HTTPConnection, HTTPResponse]:
        """Request `url`, following redirects; every hop is parsed, checked and pinned afresh.
        Returns the last hop's URL as it was spelled besides its checked form: a page's
        source reads as the user wrote it, "a b.html" and not "a%20b.html" (the notebook's
        loader keeps it so too, and scripts match sources against the URLs they gave)."""
        seen = [url]
        current = url
        while True:
            target = check_url(current, allow_private=self.config.allow_private)
            conn, response = self._request(url, target, watch)
            if response.status not in REDIRECTS:
                return current, target, conn, response
            conn.close()
            location = response.headers.get("Location")
            if not location:
                raise FetchError(url, "bad-response", "The server sent a redirect with no target.")
            joined = join_url(target.url, location)
            if joined is None:
                raise FetchError(
                    url,
                    "bad-response",
                    f"The server sent a redirect to {location[:200]!r}, which is no address.",
                )
            current = joined
            if current in seen:
                raise FetchError(
                    url,
                    "redirect-loop",
                    f"The page redirects in a loop ({' → '.join([*seen, current][-3:])}).",
                    "Open the URL in a browser to find the page's real address.",
                )
            seen.append(current)
            if len(seen) > self.config.max_redirects:
                raise FetchError(
                    url, "too-many-redirects", f"More than {self.config.max_redirects} redirects."
                )

    def _request(self, url: str, target: Target, watch: Watch) -> tuple[HTTPConnection, HTTPResponse]:
        conn = self._connect(url, target, watch)
        headers = {
            "Host": target.netloc,
            "User-Agent": self.config.user_agent,
            "Accept": "*/*",
            "Accept-Encoding": ACCEPT_ENCODING,
        }
        try:
            conn.request("GET", target.path, headers=headers, preload_content=False)
            return conn, conn.getresponse()
        except (OSError, http.client.HTTPException, urllib3.exceptions.HTTPError) as exc:
            conn.close()
            raise _broken(url, exc, self.config.timeout) from None

    def _connect(self, url: str, target: Target, watch: Watch) -> HTTPConnection:
        """A connection to the first checked address that answers (never to a fresh DNS answer)."""
        addresses = target.addresses or tuple(urlpolicy.resolve(url, target.host, target.port))
        error: BaseException | None = None
        for address in addresses:
            remaining = watch.remaining()
            if remaining <= 0 or watch.fired:
                break
            conn: HTTPConnection
            if target.scheme == "https":
                conn = _HTTPS(
                    str(address),
                    target.port,
                    timeout=min(remaining, CONNECT_S),
                    server_hostname=target.host,  # SNI and the certificate's name: the URL's host
                    cert_reqs="CERT_REQUIRED",
                    ca_certs=self.config.ca_certs or certifi.where(),
                )
            else:
                conn = _HTTP(str(address), target.port, timeout=min(remaining, CONNECT_S))
            conn.watch = watch  # type: ignore[attr-defined]
            try:
                conn.connect()
            except (OSError, urllib3.exceptions.HTTPError) as exc:
                conn.close()
                error = exc
                continue
            conn.timeout = self.config.timeout  # per read; the watch bounds the whole fetch
            return conn
        if error is None:
            raise _timeout(url, self.config.timeout)
        refused = isinstance(error, urllib3.exceptions.NewConnectionError)  # (a ConnectTimeoutError too)
        if not refused and isinstance(error, (TimeoutError, urllib3.exceptions.TimeoutError)):
            raise _timeout(url, self.config.timeout)
        raise FetchError(
            url,
            "unreachable",
            f"Could not connect to {target.netloc} ({_short(error)}).",
            "Check the URL, and that the site is up and reachable from this machine.",
        )

    def _read(self, url: str, response: HTTPResponse) -> bytes:
        cap = self.config.max_bytes
        declared = response.headers.get("Content-Length", "")
        if declared.isdigit() and int(declared) > cap:
            raise _too_large(url, int(declared), cap)
        chunks: list[bytes] = []
        size = 0
        try:
            for chunk in response.stream(CHUNK, decode_content=True):
                size += len(chunk)
                if size > cap:
                    raise _too_large(url, size, cap)
                chunks.append(chunk)
        except (OSError, http.client.HTTPException, urllib3.exceptions.HTTPError) as exc:
            raise _broken(url, exc, self.config.timeout, "The download broke off") from None
        return b"".join(chunks)

    def _file(self, url: str, accept: frozenset[str]) -> Fetched:
        if not self.config.allow_files:
            raise FetchError(url, "bad-url", "Local files cannot be indexed here.", "Give an https:// URL.")
        path = Path(url2pathname(urlsplit(url).path))
        try:
            size = path.stat().st_size
            if size > self.config.max_bytes:
                raise _too_large(url, size, self.config.max_bytes)
            body = path.read_bytes()
        except (FileNotFoundError, IsADirectoryError, PermissionError) as exc:
            raise FetchError(url, "unreachable", f"Cannot read {path} ({exc.strerror}).") from None
        media = FILE_TYPES.get(path.suffix.lower()) or sniff(body)
        _check_type(url, media, accept)
        text = decode(url, body, None, media)
        return Fetched(url=url, content_type=media, encoding=None, body=body, text=text)


_BOMS = (
    (codecs.BOM_UTF32_LE, "utf-32"),
    (codecs.BOM_UTF32_BE, "utf-32"),
    (codecs.BOM_UTF8, "utf-8-sig"),
    (codecs.BOM_UTF16_LE, "utf-16"),
    (codecs.BOM_UTF16_BE, "utf-16"),
)
_META_CHARSET = re.compile(rb"""<meta[^>]{0,200}?charset\s*=\s*["']?\s*([A-Za-z0-9_.:-]{1,40})""", re.I)
_XML_ENCODING = re.compile(rb"""^\s*<\?xml[^>]{0,200}?encoding\s*=\s*["']([A-Za-z0-9_.:-]{1,40})""")
# C0 and C1 controls (tab, newlines and form feed aside) and U+FFFD: what undecodable bytes become.
_GARBLED = re.compile("[\x00-\x08\x0e-\x1f\x7f-\x9f\ufffd]")


def decode(url: str, body: bytes, declared: str | None, media: str) -> str:
    """The body as text; binary data, and text in an encoding it does not name, are refused."""
    text = _decode(body, declared, media)
    if text is None or _garbled(text):
        raise FetchError(
            url,
            "binary",
            "The page is not readable text (binary data, or an encoding it does not declare).",
            "Only HTML, Markdown and plain-text pages are indexed; UTF-16 text needs a charset or a BOM.",
        )
    return text


# Labels that browsers read as windows-1252 (the WHATWG Encoding Standard), whose bytes
# 0x80-0x9F are letters and signs, not controls. A page so labelled whose bytes are valid
# UTF-8 is UTF-8 with a stale label (18 of Vim's 152 help pages): it is read as UTF-8.
_WINDOWS_1252 = {"iso8859-1", "ascii", "cp1252"}


def _decode(body: bytes, declared: str | None, media: str) -> str | None:
    for bom, codec in _BOMS:
        if body.startswith(bom):
            return body.decode(codec, errors="replace")
    codec = _codec(declared) or _codec(_inline_charset(body, media))
    if codec and codec.startswith(("utf-16", "utf-32")):  # declared wide text: NULs are expected
        return body.decode(codec, errors="replace")
    if b"\x00" in body:  # binary, or UTF-16/32 that names no encoding
        return None
    if codec and codec not in _WINDOWS_1252:
        return body.decode(codec, errors="replace")
    try:
        return body.decode("utf-8")
    except UnicodeDecodeError:
        return body.decode("cp1252", errors="replace")  # what browsers assume for unlabelled pages


def _inline_charset(body: bytes, media: str) -> str | None:
    head = body[:4096]
    match = _XML_ENCODING.match(head)
    if match is None and media in HTML_TYPES:
        match = _META_CHARSET.search(head)
    return match.group(1).decode("ascii") if match else None


def _codec(name: str | None) -> str | None:
    if not name:
        return None
    try:
        info = codecs.lookup(name)
    except LookupError:
        return None
    return info.name if getattr(info, "_is_text_encoding", True) else None


def _garbled(text: str) -> bool:
    bad = sum(1 for _ in _GARBLED.finditer(text))
    return bad > 8 and bad * 100 > len(text)


def _raise_for_status(url: str, response: HTTPResponse) -> None:
    code = response.status
    if code < 400:
        return
    try:
        phrase = HTTPStatus(code).phrase
    except ValueError:
        phrase = "error"
    fix = "Check the URL." if code in {404, 410} else "The site may be down; try again later."
    if code in {401, 403}:
        fix = "The page needs a login or blocks this client; index a public page."
    wait = response.headers.get("Retry-After", "").strip()
    seconds = re.fullmatch(r"[0-9]{1,6}", wait)  # an HTTP date is not read
    retry_after = min(float(wait), MAX_RETRY_AFTER) if seconds else 0.0
    raise FetchError(
        url, f"http-{code}", f"The server answered {code} {phrase}.", fix, retry_after=retry_after
    )


def _check_type(url: str, media: str, accept: frozenset[str]) -> None:
    if media not in accept:
        raise FetchError(
            url,
            "unsupported-type",
            f"The URL is {media}, not a web page.",
            "Only HTML, Markdown and plain-text pages are indexed.",
        )


def sniff(body: bytes) -> str:
    """The media type of a body that came without a Content-Type."""
    head = body[:512].lstrip().lower()
    if head.startswith((b"<!doctype html", b"<html")) or b"<body" in head:
        return "text/html"
    if head.startswith(b"%pdf"):
        return "application/pdf"
    if b"\x00" in head:
        return "application/octet-stream"
    return "text/plain"


def _content_type(response: HTTPResponse) -> tuple[str, str | None]:
    header = response.headers.get("Content-Type", "")
    media, _, params = header.partition(";")
    encoding = None
    for param in params.split(";"):
        key, _, value = param.strip().partition("=")
        if key.lower() == "charset" and value:
            encoding = value.strip("\"'")
    return media.strip().lower(), encoding


def _timeout(url: str, seconds: float) -> FetchError:
    return FetchError(
        url, "timeout", f"The page took longer than {seconds:g} s.", "Try again, or raise RAG_FETCH_TIMEOUT."
    )


def _cancelled(url: str) -> FetchError:
    return FetchError(url, "cancelled", "The fetch was stopped.")


def _fired(url: str, watch: Watch, seconds: float) -> FetchError:
    return _cancelled(url) if watch.fired == "cancelled" else _timeout(url, seconds)


def _broken(url: str, exc: BaseException, seconds: float, what: str = "The answer broke off") -> FetchError:
    if isinstance(exc, (TimeoutError, urllib3.exceptions.TimeoutError)):
        return _timeout(url, seconds)
    if isinstance(exc, http.client.HTTPException):
        return FetchError(url, "bad-response", f"The server's answer is not valid HTTP ({_short(exc)}).")
    return FetchError(url, "bad-response", f"{what} ({_short(exc)}).")


def _too_large(url: str, size: int, cap: int) -> FetchError:
    return FetchError(
        url,
        "too-large",
        f"The page is larger than the {cap / 1e6:g} MB cap ({size / 1e6:.1f} MB or more).",
        "Raise RAG_MAX_PAGE_BYTES to index it.",
    )


_SHORT = {
    "Connection refused": "connection refused",
    "Name or service not known": "name or service not known",
    "No route to host": "no route to host",
    "timed out": "timed out",
    "Connection reset": "connection reset",
    "Remote end closed": "remote end closed",
    "Network is unreachable": "network is unreachable",
    "CERTIFICATE_VERIFY_FAILED": "its TLS certificate is not valid for this name",
    "SSL": "the TLS handshake failed",
}


def _short(exc: BaseException) -> str:
    text = str(exc).split("(Caused by", 1)[-1].strip(" )")
    for marker, phrase in _SHORT.items():
        if marker in text:
            return phrase
    return type(exc).__name__
