"""An index build in a worker thread, and the progress line the Index page draws from its events.

The build runs beside the script thread so that thread can say what is happening at
least every second, also while a slow page or a batch of embeddings is quiet.
"""

from __future__ import annotations

import html
import queue
import threading
import time
from dataclasses import dataclass, field
from typing import Any

from langchain_core.embeddings import Embeddings

from rag.embeddings import EmbedderSpec
from rag.indexing import EMBED_BATCH, EmbedEvent, IndexReport, PageEvent
from rag.pipeline import index_pages
from rag.settings import Settings
from rag.store import SKLearnStore

from .render import escape

TICK_S = 1.0  # the progress line is redrawn at least this often


@dataclass
class Progress:
    """What a build has done so far, as one line that says what is happening now."""

    expected: int  # pages asked for; for a crawl, its limit
    crawl: bool
    fetch_timeout: float
    started: float = field(default_factory=time.monotonic)
    ok: int = 0
    failed: int = 0
    chunks_seen: int = 0
    chunks_done: int = 0
    last_event: float = field(default_factory=time.monotonic)

    def record(self, event: object, now: float) -> None:
        self.last_event = now
        if isinstance(event, PageEvent):
            if event.result.ok:
                self.ok += 1
                self.chunks_seen += len(event.result.documents)
            else:
                self.failed += 1
        elif isinstance(event, EmbedEvent):
            self.chunks_done = event.chunks_done
            self.chunks_seen = max(self.chunks_seen, event.chunks_seen)

    @property
    def fetching(self) -> bool:
        return self.crawl or self.ok + self.failed < self.expected

    def fraction(self) -> float:
        pages = min((self.ok + self.failed) / max(self.expected, 1), 1.0)
        embedded = self.chunks_done / self.chunks_seen if self.chunks_seen else 0.0
        return min(0.3 * pages + 0.7 * embedded, 1.0) if not self.crawl else min(embedded, 1.0)

    def line(self, now: float) -> str:
        pages = f"Read {self.ok} pages" if self.crawl else f"Read {self.ok} of {self.expected} pages"
        if self.failed:
            pages += f", {self.failed} failed"
        parts = [pages]
        if self.chunks_seen:
            parts.append(f"embedded {self.chunks_done} of {self.chunks_seen} chunks")
        waiting = self.chunks_seen - self.chunks_done
        if waiting and (waiting >= EMBED_BATCH or not self.fetching):
            parts.append(f"embedding the next {min(waiting, EMBED_BATCH)} chunks")
        elif self.fetching:
            quiet = now - self.last_event
            parts.append(
                f"fetching (nothing new for {quiet:.0f} s; a page gives up after {self.fetch_timeout:.0f} s)"
                if quiet >= 3
                else "fetching"
            )
        return " · ".join(parts) + f" · {now - self.started:.0f} s"


def _log_page(log: Any, event: PageEvent) -> None:
    r = event.result  # a crawled link or a page's title may hold markup: escaped
    if r.ok:
        log.markdown(
            f":green[:material/check:] {escape(r.title or r.url)} — {len(r.documents)} chunks  \n"
            f"<small>{html.escape(r.url)}</small>",
            unsafe_allow_html=True,
        )
    else:
        error = html.escape(str(r.error))
        log.markdown(
            f":red[:material/close:] {escape(r.url)}  \n<small>{error}</small>", unsafe_allow_html=True
        )


def run_build(
    s: Settings,
    urls: list[str],
    crawl: str | None,
    max_pages: int,
    embedder: tuple[Embeddings, EmbedderSpec] | None,
    bar: Any,
    log: Any,
) -> tuple[SKLearnStore, IndexReport]:
    """index_pages in a worker thread; this thread draws its events and a ticking progress line."""
    events: queue.Queue = queue.Queue()
    cancel = threading.Event()
    box: dict = {}

    def work() -> None:
        try:
            box["result"] = index_pages(
                s,
                urls=urls,
                crawl=crawl,
                max_pages=max_pages or None,
                embeddings=embedder,
                on_event=events.put,
                cancel=cancel,
            )
        except BaseException as error:  # handed to the script thread, which shows it
            box["error"] = error

    progress = Progress(len(urls) + (max_pages if crawl else 0), bool(crawl), s.fetch_timeout)
    worker = threading.Thread(target=work, name="index-build", daemon=True)
    worker.start()
    drawn = 0.0
    try:
        while worker.is_alive() or not events.empty():
            try:
                event = events.get(timeout=TICK_S / 4)
            except queue.Empty:
                event = None
            now = time.monotonic()
            if event is not None:
                progress.record(event, now)
                if isinstance(event, PageEvent):
                    _log_page(log, event)
            if event is not None or now - drawn >= TICK_S:
                bar.progress(progress.fraction(), text=progress.line(now))
                drawn = now
    finally:
        cancel.set()  # Stop (or any click) interrupts this thread: stop the worker too
        worker.join(timeout=30)
    if "error" in box:
        raise box["error"]
    return box["result"]
