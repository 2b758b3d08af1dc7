"""Pages in, an index out: load → split → embed → store, overlapped.

A background thread runs the loader (fetching, parsing and splitting pages with
its own worker pool) while the calling thread embeds chunks in batches as they
arrive, so the network wait and the HTML parsing hide behind the embedder.
Progress is reported through `on_event` from the calling thread, which makes it
safe to update a UI from there. Nothing is written to disk here: saving is a
separate, atomic step (`SKLearnStore.save`).
"""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from langchain_core.documents import Document
from langchain_core.embeddings import Embeddings

from .embeddings.cache import CachedEmbeddings, embed_array
from .errors import Cancelled, RagError
from .loading.loader import PageResult, WebLoader
from .store import SKLearnStore

EMBED_BATCH = 128


@dataclass
class Failure:
    url: str
    reason: str
    message: str


@dataclass
class IndexReport:
    pages_ok: int = 0
    failures: list[Failure] = field(default_factory=list)
    chunks: int = 0
    embedded: int = 0  # chunks sent to the embedder (the rest came from the cache)
    seconds: float = 0.0
    embed_seconds: float = 0.0

    @property
    def chunks_per_s(self) -> float:
        return self.chunks / self.seconds if self.seconds else 0.0

    def summary(self) -> str:
        return (
            f"{self.pages_ok} pages ok, {len(self.failures)} failed; {self.chunks} chunks "
            f"in {self.seconds:.1f} s ({self.chunks_per_s:.0f} chunks/s; "
            f"{self.chunks - self.embedded} reused from cache)"
        )


@dataclass
class PageEvent:
    result: PageResult
    pages_done: int


@dataclass
class EmbedEvent:
    chunks_done: int
    chunks_seen: int


Event = PageEvent | EmbedEvent
_DONE = object()


def build_index(
    loader: WebLoader,
    embeddings: Embeddings,
    embedder_id: str,
    *,
    urls: Iterable[str] = (),
    crawl: str | None = None,
    max_pages: int = 50,
    splitter: tuple[str, Callable[[list[Document]], list[Document]]],
    on_event: Callable[[Event], None] | None = None,
    cancel: threading.Event | None = None,
    store: SKLearnStore | None = None,
) -> tuple[SKLearnStore, IndexReport]:
    """Index the pages; returns the store (possibly empty) and a report of what happened."""
    splitter_name, split = splitter
    cached = (
        embeddings if isinstance(embeddings, CachedEmbeddings) else CachedEmbeddings(embeddings, embedder_id)
    )
    store = store or SKLearnStore(embeddings, embedder_id, splitter_name)
    urls = list(urls)
    first_new_row = len(store)
    report = IndexReport()
    started = time.perf_counter()
    results: queue.Queue = queue.Queue()
    stop = cancel or threading.Event()

    def produce() -> None:
        try:
            for result in loader.load(urls, crawl=crawl, max_pages=max_pages, transform=split, cancel=stop):
                results.put(result)
        except BaseException as exc:  # handed to the consumer, which raises it
            results.put(exc)
        finally:
            results.put(_DONE)

    thread = threading.Thread(target=produce, name="index-loader", daemon=True)
    thread.start()
    pages: list[tuple[str, str, str]] = []  # (url, title, the URL asked for)
    try:
        _consume(results, store, cached, pages, report, on_event, stop)
    except BaseException:
        stop.set()
        raise
    finally:
        thread.join(timeout=30)
    pages = _in_request_order(pages, urls)
    store.order_pages(first_new_row, [url for url, _, _ in pages])
    store.add_pages((url, title) for url, title, _ in pages)
    report.embedded = cached.embedded
    report.seconds = time.perf_counter() - started
    return store, report


def _in_request_order(pages: list[tuple[str, str, str]], urls: list[str]) -> list[tuple[str, str, str]]:
    """Pages in the order their URLs were asked for, crawled ones after them by URL: fetches
    finish in any order, and rows stored that way made ties (a manual's two identical pages)
    break differently from one build of the same pages to the next."""
    asked: dict[str, int] = {}
    for i, url in enumerate(urls):
        asked.setdefault(url, i)  # a URL asked twice keeps its first place
    return sorted(pages, key=lambda page: (asked.get(page[2], len(asked)), page[0]))


def _consume(
    results: queue.Queue,
    store: SKLearnStore,
    cached: CachedEmbeddings,
    pages: list[tuple[str, str, str]],
    report: IndexReport,
    on_event: Callable[[Event], None] | None,
    stop: threading.Event,
) -> None:
    """Embed the loader's chunks in batches as they arrive, until the loader is done."""
    buffer: list[Document] = []
    done = False
    while not done or buffer:
        # Wait for the loader until a batch is full: polling it would spin on the GIL, which
        # the app's other sessions need (bench/load_room.py).
        block = not done and len(buffer) < EMBED_BATCH
        done = _drain(results, buffer, pages, report, on_event, block=block) or done
        if stop.is_set():
            raise Cancelled("Indexing stopped; nothing was saved.")
        if buffer and (len(buffer) >= EMBED_BATCH or done):
            batch, buffer[:] = buffer[:EMBED_BATCH], buffer[EMBED_BATCH:]
            t0 = time.perf_counter()
            vectors = embed_array(cached, [d.page_content for d in batch])
            report.embed_seconds += time.perf_counter() - t0
            store.add_vectors(batch, vectors)
            report.chunks += len(batch)
            if on_event:
                on_event(EmbedEvent(report.chunks, report.chunks + len(buffer)))


def _drain(
    results: queue.Queue,
    buffer: list[Document],
    pages: list[tuple[str, str, str]],
    report: IndexReport,
    on_event: Callable[[Event], None] | None,
    *,
    block: bool,
) -> bool:
    """Move finished pages into the buffer; True once the loader has finished."""
    while True:
        try:
            item = results.get(timeout=0.25) if block else results.get_nowait()
        except queue.Empty:
            return False
        if item is _DONE:
            return True
        if isinstance(item, BaseException):
            if isinstance(item, RagError):
                raise item
            raise RagError(f"Loading pages failed ({type(item).__name__}: {item}).") from item
        result: PageResult = item
        if result.ok:
            report.pages_ok += 1
            buffer.extend(result.documents)
            pages.append((result.documents[0].metadata["url"], result.title, result.url))
        else:
            assert result.error is not None
            report.failures.append(Failure(result.url, result.error.reason, str(result.error)))
        if on_event:
            on_event(PageEvent(result, report.pages_ok + len(report.failures)))
        block = False
