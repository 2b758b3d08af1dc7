"""Same-site crawling: scope, robots.txt and sitemaps.

A crawl starts at one URL and stays on its site, under the start URL's folder.
It asks the sitemap first (from robots.txt's `Sitemap:` lines, else
`/sitemap.xml`): the pages it lists in scope are queued first; links found on
the pages are followed breadth-first after them (sitemaps are often incomplete),
all within the page limit. robots.txt is honoured for every URL the crawl finds;
the start URL is the user's own request.
"""

from __future__ import annotations

import re
import threading
import xml.etree.ElementTree as ET
from pathlib import PurePosixPath
from urllib.parse import urldefrag, urlsplit, urlunsplit
from urllib.robotparser import RobotFileParser

from .fetch import Fetcher
from .urlpolicy import join_url, request_path

PAGE_SUFFIXES = {"", ".html", ".htm", ".xhtml", ".shtml", ".php", ".asp", ".aspx", ".jsp", ".md"}
MAX_SITEMAPS = 20


def normalize(url: str) -> str:
    """One spelling per page: no fragment, lower-case scheme and host, no default port."""
    url, _ = urldefrag(url)
    parts = urlsplit(url)
    host = (parts.hostname or "").lower()
    port = parts.port
    default = {"http": 80, "https": 443}.get(parts.scheme.lower())
    netloc = host if port in (None, default) else f"{host}:{port}"
    if parts.username:
        netloc = f"{parts.username}@{netloc}"
    return urlunsplit((parts.scheme.lower(), netloc, parts.path or "/", parts.query, ""))


def normalized(url: str) -> str | None:
    """`normalize`, or None for a URL that is no address ("http://h:99999/x"): it costs that
    link or sitemap entry, not the crawl."""
    try:
        return normalize(url)
    except ValueError:
        return None


_INDEX_FILE = re.compile(r"/(?:index|default)\.(?:html?|xhtml|php|aspx?|jsp|shtml)$")


def page_key(url: str) -> str:
    """What makes two URLs the same page: `normalize`, the path as it is sent ("a b.html"
    is "a%20b.html"), and `dir/index.html` is `dir/`."""
    key = normalize(url)
    parts = urlsplit(key)
    path = _INDEX_FILE.sub("/", request_path(parts.path))
    query = request_path(parts.query) if parts.query else ""
    return urlunsplit((parts.scheme, parts.netloc, path, query, ""))


def same_page_key(url: str) -> str:
    """`page_key`, or the string itself where it is no address (an index file's URLs are
    only type-checked when it is read)."""
    try:
        return page_key(url)
    except ValueError:
        return url


class Scope:
    """The start URL's origin and folder: what a crawl may visit."""

    def __init__(self, start: str) -> None:
        parts = urlsplit(normalize(start))
        self.origin = (parts.scheme, parts.netloc)
        path = request_path(parts.path)  # "/my docs/" and "/my%20docs/" are one folder
        self.prefix = path if path.endswith("/") else path.rsplit("/", 1)[0] + "/"

    def __contains__(self, url: str) -> bool:
        parts = urlsplit(url)
        inside = request_path(parts.path).startswith(self.prefix)
        if (parts.scheme, parts.netloc) != self.origin or not inside:
            return False
        return PurePosixPath(parts.path).suffix.lower() in PAGE_SUFFIXES


class Robots:
    """robots.txt per origin, fetched once; a missing or broken file allows everything."""

    def __init__(self, fetcher: Fetcher, user_agent: str, cancel: threading.Event | None = None) -> None:
        self.fetcher = fetcher
        self.user_agent = user_agent
        self.cancel = cancel
        self._parsers: dict[str, RobotFileParser | None] = {}
        self._lock = threading.Lock()

    def _parser(self, url: str) -> RobotFileParser | None:
        parts = urlsplit(url)
        if parts.scheme not in {"http", "https"}:
            return None
        origin = f"{parts.scheme}://{parts.netloc}"
        with self._lock:
            if origin in self._parsers:
                return self._parsers[origin]
        text = self.fetcher.get_text(origin + "/robots.txt", self.cancel)
        parser = None
        if text is not None:
            parser = RobotFileParser()
            parser.parse(text.splitlines())
        with self._lock:
            self._parsers[origin] = parser
        return parser

    def allowed(self, url: str) -> bool:
        parser = self._parser(url)
        return parser is None or parser.can_fetch(self.user_agent, url)

    def sitemaps(self, url: str) -> list[str]:
        parser = self._parser(url)
        return list(parser.site_maps() or []) if parser else []


def sitemap_urls(
    fetcher: Fetcher, robots: Robots, start: str, limit: int, cancel: threading.Event | None = None
) -> list[str]:
    """Page URLs from the site's sitemaps (nested sitemap indexes followed), in scope only."""
    parts = urlsplit(start)
    if parts.scheme not in {"http", "https"}:
        return []
    scope = Scope(start)
    queue = robots.sitemaps(start) or [f"{parts.scheme}://{parts.netloc}/sitemap.xml"]
    seen_maps: set[str] = set()
    pages: dict[str, str] = {}  # page_key → URL
    while queue and len(seen_maps) < MAX_SITEMAPS and len(pages) < limit:
        sitemap = queue.pop(0)
        if sitemap in seen_maps:
            continue
        seen_maps.add(sitemap)
        text = fetcher.get_text(sitemap, cancel)
        if not text:
            continue
        try:
            root = ET.fromstring(text.encode())
        except ET.ParseError:
            continue
        for loc in root.iter():
            if not loc.tag.endswith("loc") or not (loc.text or "").strip():
                continue
            joined = join_url(sitemap, loc.text.strip())
            url = normalized(joined) if joined else None
            if url is None:
                continue
            if root.tag.endswith("sitemapindex"):
                queue.append(url)
            elif url in scope and robots.allowed(url):
                pages.setdefault(page_key(url), url)
    return list(pages.values())[:limit]
