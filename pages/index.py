"""Index: turn web pages (or the bundled sample guide, or your files) into this session's index.

A build either adds its pages to the current index (with the embedder that built
it) or starts a new one; the page asks which and says which happened. The build
runs in a worker thread so this script thread can say what is happening at
least every second, also while a slow page or a batch of embeddings is quiet.
"""

from __future__ import annotations

import queue
import shutil
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd
import streamlit as st

from pages.common.connection import sidebar
from pages.common.errors import show_error
from pages.common.sample import sample_url
from pages.common.state import (
    embeddings,
    embeddings_for,
    index,
    is_hosted,
    set_index,
    settings,
    shared_index,
)
from rag.indexing import EMBED_BATCH, EmbedEvent, IndexReport, PageEvent
from rag.pipeline import index_pages
from rag.splitting import SPLITTERS
from rag.store import SKLearnStore, merge_stores, read_index

SPLITTER_LABELS = {
    "sections": "By headings (default; best in our benchmark)",
    "recursive": "Recursive characters",
    "notebook": "The notebook's CharacterTextSplitter (800/100)",
}
TICK_S = 1.0  # the progress line is redrawn at least this often
LOCAL_FETCH_TIMEOUT = 120.0  # seconds, for the pages this app serves itself
MAX_REASONS = 12  # failed pages listed in full under a failed build


def mode_choice() -> str:
    """'add' to the current index, or 'new'; asked only when there is an index."""
    built = index()
    if built is None:
        return "new"
    info = built.store.info
    whose = "the leader's index (you get your own copy)" if built.shared else "the current index"
    labels = {
        "add": f"Add the pages to {whose}: {info.page_count} pages, "
        f"embedded with {info.embedder.split(':', 1)[-1]}",
        "new": "Start a new index with only these pages",
    }
    return st.radio("When you build", list(labels), format_func=labels.get, key="index_mode")


def sources_form() -> tuple[str, list[str], str | None, int, str] | None:
    """The page's inputs; (kind, urls, crawl start, max pages, splitter) when a Build button is pressed.

    Every tab is drawn on every run (a button in one must not hide the others).
    """
    tab_urls, tab_crawl, tab_sample, tab_files = st.tabs(
        ["Web pages", "Crawl a site", "Sample guide (offline)", "Your files"]
    )
    s = settings()
    splitter = st.selectbox(
        "Splitter",
        list(SPLITTERS),
        format_func=SPLITTER_LABELS.get,
        index=list(SPLITTERS).index(s.splitter if s.splitter in SPLITTERS else "sections"),
    )
    request = None
    with tab_urls:
        text = st.text_area(
            "URLs, one per line",
            height=120,
            key="urls",
            placeholder="https://cloud.google.com/run/docs/overview/what-is-cloud-run",
        )
        if st.button("Index these pages", type="primary", icon=":material/library_add:", key="go_urls"):
            urls = [line.strip() for line in text.splitlines() if line.strip() and not line.startswith("#")]
            if urls:
                request = ("web", urls, None, 0, splitter)
            else:
                st.warning("Paste at least one URL.")
    with tab_crawl:
        start = st.text_input("Start URL", key="crawl_start", placeholder="https://docs.example.com/guide/")
        limit = st.number_input("Page limit", 1, 2000, value=s.max_pages, key="crawl_limit")
        st.caption(
            "Stays on the site, under the start URL's folder; uses sitemap.xml when there is one and "
            "honours robots.txt."
        )
        if st.button("Crawl and index", type="primary", icon=":material/travel_explore:", key="go_crawl"):
            if start.strip():
                request = ("web", [], start.strip(), int(limit), splitter)
            else:
                st.warning("Enter a start URL.")
    with tab_sample:
        st.markdown(
            "A short guide to **Gemma, Ollama and Cloud Run GPUs** that ships with the app: seven pages, "
            "served by the app itself on loopback, so no network is needed."
        )
        if st.button(
            "Index the sample guide", type="primary", icon=":material/auto_stories:", key="go_sample"
        ):
            request = ("local", [], sample_url(), 20, splitter)
    with tab_files:
        files = st.file_uploader(
            "HTML or Markdown files",
            type=["html", "htm", "md", "markdown", "txt"],
            accept_multiple_files=True,
            key="files",
        )
        if st.button(
            "Index these files",
            type="primary",
            icon=":material/upload_file:",
            key="go_files",
            disabled=not files,
        ):
            request = ("local", _save_uploads(files or []), None, 0, splitter)
    return request


def _save_uploads(files) -> list[str]:
    folder = Path(tempfile.mkdtemp(prefix="rag-upload-"))
    urls = []
    for upload in files:
        path = folder / Path(upload.name).name
        path.write_bytes(upload.getvalue())
        urls.append(path.as_uri())
    return urls


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


def _log_page(log, event: PageEvent) -> None:
    r = event.result
    if r.ok:
        log.markdown(
            f":green[:material/check:] {r.title or r.url} — {len(r.documents)} chunks  \n"
            f"<small>{r.url}</small>",
            unsafe_allow_html=True,
        )
    else:
        log.markdown(f":red[:material/close:] {r.url}  \n<small>{r.error}</small>", unsafe_allow_html=True)


def run_build(s, urls, crawl, max_pages, embedder, bar, log) -> tuple[SKLearnStore, IndexReport]:
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


def build(kind: str, urls: list[str], crawl: str | None, max_pages: int, splitter: str, mode: str) -> None:
    s = settings().merged({"splitter": splitter})
    if kind == "local":  # the bundled guide and uploads: files this app wrote or ships, also when hosted
        # Served by this process to itself: only slow when a room keeps it busy, so wait
        # rather than fail (20 sessions at once timed out at 20 s in bench/load_room.py).
        s = s.merged({"allow_private_urls": True, "fetch_timeout": max(s.fetch_timeout, LOCAL_FETCH_TIMEOUT)})
    elif is_hosted():  # typed URLs: never into the private network, never local files
        s = s.merged({"allow_private_urls": False})
    current = index() if mode == "add" else None
    stop = st.empty()
    stop.button("Stop", icon=":material/stop_circle:", key="stop_index")
    try:
        with st.status("Indexing…", expanded=True) as status:
            bar = st.progress(0.0, text="Starting…")
            log = st.container(height=220)
            embedder = embeddings_for(current.store.info.embedder) if current else embeddings()
            try:
                store, report = run_build(s, urls, crawl, max_pages, embedder, bar, log)
            except Exception as error:
                status.update(label="Indexing failed", state="error")
                show_error(error)
                return
            if not report.pages_ok:
                status.update(label="No page could be indexed", state="error", expanded=True)
                _no_pages(report)
                return
            bar.progress(1.0, text="Done")
            status.update(label=report.summary(), state="complete", expanded=bool(report.failures))
    finally:
        _remove_uploads(urls)
        stop.empty()  # last: in an interrupted run this raises Streamlit's stop again
    _keep(store, report, current, crawl or (urls[0] if urls else "index"))


def _no_pages(report: IndexReport) -> None:
    """Every page failed: say why, in full and outside the log box."""
    lines = [f"- {f.url}: {f.message}" for f in report.failures[:MAX_REASONS]]
    if len(report.failures) > MAX_REASONS:
        lines.append(f"- … and {len(report.failures) - MAX_REASONS} more")
    st.error(
        "None of the pages could be read, so the current index (if any) is kept:\n\n" + "\n".join(lines),
        icon=":material/error:",
    )


def _keep(store: SKLearnStore, report: IndexReport, current, name: str) -> None:
    """Make the build this session's index, added to the current one or on its own; say which."""
    info = store.info
    if current is None:
        set_index(store, report, name=name)
        st.success(f"Started a new index: {info.page_count} pages, {info.chunks} chunks.")
        return
    known = {p["url"] for p in current.store.info.pages}
    again = sum(p["url"] in known for p in info.pages)
    merged = merge_stores(current.store, store)
    set_index(merged, report, name=current.name or name)
    replaced = f" ({again} already there: their chunks were replaced)" if again else ""
    whose = "the leader's index (your copy)" if current.shared else "the current index"
    st.success(
        f"Added {info.page_count} pages{replaced} to {whose}: now "
        f"{merged.info.page_count} pages, {merged.info.chunks} chunks."
    )


def _remove_uploads(urls: list[str]) -> None:
    """Uploaded files are only needed while they are indexed."""
    for url in urls:
        path = Path(url.removeprefix("file://"))
        if path.parent.name.startswith("rag-upload-"):
            shutil.rmtree(path.parent, ignore_errors=True)


def summary() -> None:
    built = index()
    if built is None:
        return
    info = built.store.info
    st.subheader("This session's index")
    whose = f"The leader's index, *{built.name}*, shared by every session" if built.shared else "Your own"
    st.caption(
        f"{whose} · embedder {info.embedder.split(':', 1)[-1]} ({info.embedder.split(':')[0]}) · "
        f"splitter {info.splitter or 'unknown'}"
    )
    cols = st.columns(3)
    cols[0].metric("Pages", info.page_count)
    cols[1].metric("Chunks", info.chunks)
    report = built.report
    if report is not None:
        cols[2].metric(
            "Chunks/s",
            f"{report.chunks_per_s:.0f}",
            help=f"{report.seconds:.1f} s in all; "
            f"{report.chunks - report.embedded} chunks came from the shared cache",
        )
        if report.failures:
            with st.expander(f"{len(report.failures)} pages failed", icon=":material/error:"):
                st.dataframe(pd.DataFrame([f.__dict__ for f in report.failures]), hide_index=True)
    leader = None if built.shared else shared_index(settings().index)
    if leader is not None and st.button(
        "Use the leader's index again", icon=":material/groups:", key="use_shared"
    ):
        st.session_state.pop("index", None)
        st.rerun()
    preview(built.store)


def preview(store: SKLearnStore) -> None:
    rows = pd.DataFrame(
        [
            {
                "title": d.metadata.get("title", ""),
                "heading": d.metadata.get("heading", ""),
                "source": d.metadata.get("source", ""),
                "text": d.page_content[:300],
            }
            for d in store.documents[:200]
        ]
    )
    st.caption("The first chunks:")
    st.dataframe(
        rows, hide_index=True, column_config={"source": st.column_config.LinkColumn("source")}, height=260
    )
    st.download_button(
        "Save index file",
        data=lambda store=store: _index_bytes(store),  # built only when clicked
        file_name="index.ragidx",
        icon=":material/download:",
        mime="application/zip",
    )


def _index_bytes(store: SKLearnStore) -> bytes:
    with tempfile.TemporaryDirectory() as folder:
        return store.save(Path(folder) / "index.ragidx").read_bytes()


def load_form() -> None:
    """Drawn before the summary, so the summary shows the index this run loaded."""
    with st.expander("Load an index file", icon=":material/upload:"):
        st.caption("Prepared in advance with the Save button or `python -m rag index ... --save FILE`.")
        upload = st.file_uploader("Index file (.ragidx)", type=["ragidx", "zip"], key="index_file")
        if upload is not None and st.button("Load", key="load_index"):
            try:
                parts = read_index(upload.getvalue(), name=upload.name)
                embedder, spec = embeddings_for(parts[0].embedder)  # queried with the embedder that built it
                store = SKLearnStore.from_index(parts, embedder, spec.id, name=upload.name)
            except Exception as error:
                show_error(error)
                return
            set_index(store, None, name=upload.name)
            st.success(
                f"Loaded {upload.name}: {store.info.chunks} chunks from {store.info.page_count} pages."
            )


def shared_error() -> None:
    error = st.session_state.get("shared_index_error")
    if error is not None and index() is None:
        show_error(error)


def main() -> None:
    sidebar()
    st.title("Index")
    st.caption(
        "Pages are fetched, stripped of navigation, split by headings and embedded into this session's "
        "vector store. Nothing leaves your machine with the default embedder."
    )
    shared_error()
    mode = mode_choice()
    request = sources_form()
    if request is not None:
        build(*request, mode=mode)
    load_form()
    summary()


if __name__ == "__main__":  # Streamlit runs a page as __main__; tests import its parts
    main()
