"""Load many pages at once: URLs, URL lists and same-site crawls.

`WebLoader.load()` fetches with a bounded pool of worker threads and yields one
`PageResult` per URL as soon as it is done — ok with its documents, or failed
with a reason — so indexing can embed early pages while later ones download.
Each document is one section of a page; its metadata keeps the page URL, the
section's `#anchor`, the page title and the heading path.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from pathlib import Path

from langchain_core.documents import Document

from ..errors import Cancelled, FetchError, InputError
from .crawl import Robots, Scope, normalized, page_key, sitemap_urls
from .extract import Page, extract_html, extract_markdown
from .fetch import HTML_TYPES, FetchConfig, Fetched, Fetcher

Transform = Callable[[list[Document]], list[Document]]


@dataclass
class PageResult:
    url: str
    documents: list[Document] = field(default_factory=list)
    title: str = ""
    error: FetchError | None = None
    seconds: float = 0.0
    links: list[str] = field(default_factory=list)
    final_url: str = ""  # after redirects

    @property
    def ok(self) -> bool:
        return self.error is None


def to_url(source: str) -> str:
    """Accept URLs and local paths alike (`docs/page.html` becomes a file:// URL)."""
    source = source.strip()
    if source.startswith(("http://", "https://", "file://")):
        return source
    path = Path(source).expanduser()
    if path.exists():
        return path.resolve().as_uri()
    raise InputError(f"{source!r} is neither a URL nor an existing file.", "Give an http(s):// URL.")


def parse_url_list(text: str) -> list[str]:
    """A URL list's entries: one per line; blank lines and `#` comments are skipped."""
    return [line.strip() for line in text.splitlines() if line.strip() and not line.lstrip().startswith("#")]


def read_urls_file(path: str) -> list[str]:
    """The URL list in a file (see `parse_url_list`)."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise InputError(f"Cannot read the URL list {path} ({exc.strerror}).") from None
    return parse_url_list(text)


def page_documents(page: Page) -> list[Document]:
    """One Document per section, linked to its anchor."""
    docs = []
    for section in page.sections:
        anchor = section.anchor
        docs.append(
            Document(
                page_content=section.text,
                metadata={
                    "url": page.url,
                    "source": f"{page.url}#{anchor}" if anchor else page.url,
                    "title": page.title,
                    "heading": section.heading,
                    "anchors": section.anchors,
                    **({"keywords": page.keywords} if page.keywords else {}),
                },
            )
        )
    return docs


def parse(fetched: Fetched) -> Page:
    """The fetched page's sections; the fetcher already decoded (and vetted) its text."""
    if fetched.content_type in HTML_TYPES:
        return extract_html(fetched.text, fetched.url)
    return extract_markdown(fetched.text, fetched.url)


class WebLoader:
    def __init__(self, config: FetchConfig | None = None, fetcher: Fetcher | None = None) -> None:
        self.config = config or FetchConfig()
        self.fetcher = fetcher or Fetcher(self.config)

    def load_one(
        self, url: str, transform: Transform | None = None, cancel: threading.Event | None = None
    ) -> PageResult:
        """Fetch, extract and (optionally) split one page; never raises FetchError."""
        started = time.perf_counter()
        links: list[str] = []
        final = ""
        try:
            fetched = self.fetcher.get(url, cancel=cancel)
            final = fetched.checked or fetched.url  # one spelling per page, for duplicates
            page = parse(fetched)
            links = page.links  # a crawl follows them even when the page itself is not indexed
            if page.redirect and not page.sections:
                raise FetchError(
                    url,
                    "redirect",
                    f"The page only sends the reader on to {page.redirect}.",
                    "Index that page instead (a crawl follows it).",
                )
            if page.links_only:
                raise FetchError(
                    url,
                    "links-only",
                    "The page is only a list of links (an index or a table of contents).",
                    "Index the pages it links to, or crawl from it.",
                )
            docs = page_documents(page)
            if not docs:
                raise FetchError(url, "empty", "The page has no readable text.", "Check it in a browser.")
            if transform:
                docs = transform(docs)
            return PageResult(url, docs, page.title, None, time.perf_counter() - started, links, final)
        except FetchError as exc:
            return PageResult(
                url, error=exc, seconds=time.perf_counter() - started, links=links, final_url=final
            )
        except Exception as exc:  # a parser bug must cost one page, not the whole index
            error = FetchError(url, "parse-error", f"The page could not be read ({type(exc).__name__}).")
            return PageResult(url, error=error, seconds=time.perf_counter() - started)

    def load(
        self,
        urls: Iterable[str] = (),
        *,
        crawl: str | None = None,
        max_pages: int = 50,
        transform: Transform | None = None,
        cancel: threading.Event | None = None,
    ) -> Iterator[PageResult]:
        """Yield a PageResult per URL as each finishes; a crawl adds pages as links are found.

        One page is indexed once: URLs are told apart by `page_key` (`dir/` and
        `dir/index.html` are one page), and a page reached again through a redirect is
        reported as a duplicate. `cancel` stops the fetches in flight within a second.
        """
        frontier = _Frontier(urls)
        indexed: dict[str, str] = {}  # page_key of each final URL → the URL that got it
        scope = Scope(crawl) if crawl else None
        budget = len(frontier.queue) + (max_pages if crawl else 0)
        robots = Robots(self.fetcher, self.config.user_agent, cancel)
        if crawl:
            frontier.add(crawl)
            for url in sitemap_urls(self.fetcher, robots, crawl, max_pages, cancel):
                frontier.add(url)
        pool = ThreadPoolExecutor(self.config.concurrency, thread_name_prefix="fetch")
        running: dict[Future[PageResult], str] = {}
        submitted = 0
        try:
            while frontier.queue or running:
                while frontier.queue and len(running) < self.config.concurrency * 2 and submitted < budget:
                    url = frontier.queue.pop(0)
                    # The start URL is the user's own request, like a listed URL: robots.txt
                    # governs what the crawl finds. A disallowed page is reported, and does
                    # not use up the page limit.
                    if scope is not None and url != crawl and url in scope and not robots.allowed(url):
                        yield PageResult(url, error=_robots_error(url))
                        continue
                    submitted += 1
                    running[pool.submit(self.load_one, url, transform, cancel)] = url
                if not running:
                    break
                done, _ = wait(running, timeout=0.2, return_when=FIRST_COMPLETED)
                for future in done:
                    running.pop(future)
                    result = _once(future.result(), indexed)
                    if scope is not None:
                        frontier.follow(result.links, scope)
                    yield result
                if cancel is not None and cancel.is_set():
                    raise Cancelled("Indexing stopped; nothing was saved.")
        finally:
            # On a stop the fetches in flight end by themselves (they watch `cancel`).
            pool.shutdown(wait=not (cancel is not None and cancel.is_set()), cancel_futures=True)


class _Frontier:
    """The pages still to fetch, each page once (`page_key`: `dir/` and `dir/index.html` are one)."""

    def __init__(self, urls: Iterable[str] = ()) -> None:
        self.queue: list[str] = []
        self.seen: set[str] = set()
        for url in urls:
            self.add(url)

    def add(self, url: str) -> None:
        key = page_key(url)
        if key not in self.seen:
            self.seen.add(key)
            self.queue.append(url)

    def follow(self, links: Iterable[str], scope: Scope) -> None:
        """A crawled page's links that stay in the crawl's scope."""
        for link in links:
            url = normalized(link)
            if url is not None and url in scope:
                self.add(url)


def _once(result: PageResult, indexed: dict[str, str]) -> PageResult:
    """The result, or a `duplicate` failure when its final URL was already indexed."""
    if not result.ok or not result.final_url:
        return result
    key = page_key(result.final_url)
    first = indexed.setdefault(key, result.url)
    if first == result.url:
        return result
    error = FetchError(result.url, "duplicate", f"The same page as {first}, indexed once.")
    return PageResult(result.url, error=error, seconds=result.seconds, final_url=result.final_url)


def _robots_error(url: str) -> FetchError:
    return FetchError(url, "robots", "robots.txt asks crawlers not to fetch this page.")
