"""Fetching one URL over HTTP, within bounds.

One request path for every page, robots.txt and sitemap: a timeout for the whole
fetch, a size cap, redirects followed by hand (so each hop is re-checked against
the URL policy and loops are caught), and a content-type check. Every failure is
a `FetchError` with a short reason code and a sentence; nothing else escapes.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from http import HTTPStatus
from pathlib import Path
from urllib.parse import urljoin, urlsplit
from urllib.request import url2pathname

import requests
from requests.adapters import HTTPAdapter

from ..errors import FetchError
from .urlpolicy import check_url

HTML_TYPES = {"text/html", "application/xhtml+xml"}
TEXT_TYPES = {"text/markdown", "text/x-markdown", "text/plain"}
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


@dataclass(frozen=True)
class FetchConfig:
    timeout: float = 20.0
    max_bytes: int = 5_000_000
    max_redirects: int = 10
    concurrency: int = 8
    user_agent: str = "workshop-rag/1.0"
    allow_private: bool = True  # loopback/private hosts (off when hosted)
    allow_files: bool = True  # file:// URLs (off when hosted)


@dataclass(frozen=True)
class Fetched:
    url: str  # after redirects
    content_type: str  # lower-case media type without parameters
    encoding: str | None
    body: bytes

    @property
    def is_html(self) -> bool:
        return self.content_type in HTML_TYPES


class Fetcher:
    """Thread-safe: one pooled `requests.Session` shared by the loader's workers."""

    def __init__(self, config: FetchConfig | None = None) -> None:
        self.config = config or FetchConfig()
        self.session = requests.Session()
        adapter = HTTPAdapter(pool_maxsize=max(self.config.concurrency, 4), max_retries=0)
        self.session.mount("http://", adapter)
        self.session.mount("https://", adapter)
        self.session.headers["User-Agent"] = self.config.user_agent

    def close(self) -> None:
        self.session.close()

    def get(self, url: str, *, accept: frozenset[str] | None = None) -> Fetched:
        """Fetch a page; `accept` narrows the media types (default: HTML and text)."""
        accept = accept or frozenset(HTML_TYPES | TEXT_TYPES)
        if url.startswith("file://"):
            return self._file(url, accept)
        deadline = time.monotonic() + self.config.timeout
        seen = [url]
        current = url
        while True:
            check_url(current, allow_private=self.config.allow_private)
            response = self._request(url, current, deadline)
            if response.status_code not in REDIRECTS:
                break
            response.close()
            location = response.headers.get("Location")
            if not location:
                raise FetchError(url, "bad-response", "The server sent a redirect with no target.")
            current = urljoin(current, location)
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
        with response:
            _raise_for_status(url, response)
            media, encoding = _content_type(response)
            if media:
                _check_type(url, media, accept)  # before downloading a large PDF
            body = self._read(url, response, deadline)
        if not media:
            media = sniff(body)
            _check_type(url, media, accept)
        return Fetched(url=current, content_type=media, encoding=encoding, body=body)

    def get_text(self, url: str) -> str | None:
        """robots.txt and sitemaps: the body as text, or None when it is absent or unusable."""
        try:
            fetched = self.get(url, accept=frozenset({"text/plain", "text/xml", "application/xml"}))
        except FetchError:
            return None
        return fetched.body.decode(fetched.encoding or "utf-8", errors="replace")

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
        return Fetched(url=url, content_type=media, encoding=None, body=body)

    def _request(self, url: str, current: str, deadline: float) -> requests.Response:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise _timeout(url, self.config.timeout)
        try:
            return self.session.get(
                current, stream=True, allow_redirects=False, timeout=(min(remaining, 10.0), remaining)
            )
        except requests.Timeout:
            raise _timeout(url, self.config.timeout) from None
        except requests.TooManyRedirects:  # pragma: no cover - redirects are followed by hand
            raise FetchError(url, "too-many-redirects", "Too many redirects.") from None
        except (requests.ConnectionError, requests.exceptions.InvalidURL) as exc:
            host = urlsplit(current).netloc
            raise FetchError(
                url,
                "unreachable",
                f"Could not connect to {host} ({_short(exc)}).",
                "Check the URL, and that the site is up and reachable from this machine.",
            ) from None

    def _read(self, url: str, response: requests.Response, deadline: float) -> bytes:
        cap = self.config.max_bytes
        declared = response.headers.get("Content-Length", "")
        if declared.isdigit() and int(declared) > cap:
            raise _too_large(url, int(declared), cap)
        chunks: list[bytes] = []
        size = 0
        try:
            for chunk in response.iter_content(64 * 1024):
                size += len(chunk)
                if size > cap:
                    raise _too_large(url, size, cap)
                if time.monotonic() > deadline:
                    raise _timeout(url, self.config.timeout)
                chunks.append(chunk)
        except requests.Timeout:
            raise _timeout(url, self.config.timeout) from None
        except requests.RequestException as exc:
            raise FetchError(url, "bad-response", f"The download broke off ({_short(exc)}).") from None
        return b"".join(chunks)


def _raise_for_status(url: str, response: requests.Response) -> None:
    code = response.status_code
    if code < 400:
        return
    try:
        phrase = HTTPStatus(code).phrase
    except ValueError:
        phrase = "error"
    fix = "Check the URL." if code in {404, 410} else "The site may be down; try again later."
    if code in {401, 403}:
        fix = "The page needs a login or blocks this client; index a public page."
    raise FetchError(url, f"http-{code}", f"The server answered {code} {phrase}.", fix)


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


def _content_type(response: requests.Response) -> tuple[str, str | None]:
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


def _too_large(url: str, size: int, cap: int) -> FetchError:
    return FetchError(
        url,
        "too-large",
        f"The page is larger than the {cap / 1e6:g} MB cap ({size / 1e6:.1f} MB or more).",
        "Raise RAG_MAX_PAGE_BYTES to index it.",
    )


def _short(exc: BaseException) -> str:
    text = str(exc).split("(Caused by", 1)[-1].strip(" )")
    for marker in (
        "Connection refused",
        "Name or service not known",
        "No route to host",
        "timed out",
        "Connection reset",
        "Remote end closed",
    ):
        if marker in text:
            return marker.lower()
    return type(exc).__name__
