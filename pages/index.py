"""Index: turn web pages (or the bundled sample guide, or your files) into this session's index.

A build either adds its pages to the current index (with the embedder that built
it) or starts a new one; the page asks which and says which happened. The build
runs in a worker thread (pages/common/building.py) so this script thread can say
what is happening at least every second.
"""

from __future__ import annotations

import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import pandas as pd
import streamlit as st

from pages.common.building import run_build
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
from rag.indexing import IndexReport
from rag.loading.loader import parse_url_list
from rag.settings import Settings
from rag.splitting import SPLITTERS
from rag.store import SKLearnStore, merge_stores, read_index

SPLITTER_LABELS = {
    "sections": "By headings (default; best in our benchmark)",
    "recursive": "Recursive characters",
    "notebook": "The notebook's CharacterTextSplitter (800/100)",
}
LOCAL_FETCH_TIMEOUT = 120.0  # seconds, for the pages this app serves itself
MAX_REASONS = 12  # failed pages listed in full under a failed build


@dataclass(frozen=True)
class BuildRequest:
    """What a Build button asks for.

    `local` pages are files this app wrote or ships (the sample guide, uploads), fetched
    also when hosted; `web` pages are typed URLs, never in the private network when hosted.
    """

    kind: Literal["web", "local"]
    splitter: str
    urls: list[str] = field(default_factory=list)
    crawl: str | None = None  # the start URL of a crawl
    max_pages: int = 0  # the crawl's page limit

    @property
    def name(self) -> str:
        """What a new index built from it is called."""
        return self.crawl or (self.urls[0] if self.urls else "index")


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


def sources_form() -> BuildRequest | None:
    """The page's inputs; the request of the Build button pressed in this run, if any.

    Every tab is drawn on every run (a button in one must not hide the others).
    """
    tabs = st.tabs(["Web pages", "Crawl a site", "Sample guide (offline)", "Your files"])
    s = settings()
    splitter = st.selectbox(
        "Splitter",
        list(SPLITTERS),
        format_func=SPLITTER_LABELS.get,
        index=list(SPLITTERS).index(s.splitter if s.splitter in SPLITTERS else "sections"),
    )
    forms = (urls_tab, crawl_tab, sample_tab, files_tab)
    request = None
    for tab, form in zip(tabs, forms, strict=True):
        with tab:
            request = form(splitter) or request
    return request


def urls_tab(splitter: str) -> BuildRequest | None:
    text = st.text_area(
        "URLs, one per line",
        height=120,
        key="urls",
        placeholder="https://cloud.google.com/run/docs/overview/what-is-cloud-run",
    )
    if not st.button("Index these pages", type="primary", icon=":material/library_add:", key="go_urls"):
        return None
    urls = parse_url_list(text)  # the same list format as `python -m rag index --urls-file`
    if not urls:
        st.warning("Paste at least one URL.")
        return None
    return BuildRequest("web", splitter, urls)


def crawl_tab(splitter: str) -> BuildRequest | None:
    start = st.text_input("Start URL", key="crawl_start", placeholder="https://docs.example.com/guide/")
    limit = st.number_input("Page limit", 1, 2000, value=settings().max_pages, key="crawl_limit")
    st.caption(
        "Stays on the site, under the start URL's folder; uses sitemap.xml when there is one and "
        "honours robots.txt."
    )
    if not st.button("Crawl and index", type="primary", icon=":material/travel_explore:", key="go_crawl"):
        return None
    if not start.strip():
        st.warning("Enter a start URL.")
        return None
    return BuildRequest("web", splitter, crawl=start.strip(), max_pages=int(limit))


def sample_tab(splitter: str) -> BuildRequest | None:
    st.markdown(
        "A short guide to **Gemma, Ollama and Cloud Run GPUs** that ships with the app: seven pages, "
        "served by the app itself on loopback, so no network is needed."
    )
    if st.button("Index the sample guide", type="primary", icon=":material/auto_stories:", key="go_sample"):
        return BuildRequest("local", splitter, crawl=sample_url(), max_pages=20)
    return None


def files_tab(splitter: str) -> BuildRequest | None:
    files = st.file_uploader(
        "HTML or Markdown files",
        type=["html", "htm", "md", "markdown", "txt"],
        accept_multiple_files=True,
        key="files",
    )
    if st.button(
        "Index these files", type="primary", icon=":material/upload_file:", key="go_files", disabled=not files
    ):
        return BuildRequest("local", splitter, _save_uploads(files or []))
    return None


def _save_uploads(files) -> list[str]:
    folder = Path(tempfile.mkdtemp(prefix="rag-upload-"))
    urls = []
    for upload in files:
        path = folder / Path(upload.name).name
        path.write_bytes(upload.getvalue())
        urls.append(path.as_uri())
    return urls


def build_settings(request: BuildRequest) -> Settings:
    s = settings().merged({"splitter": request.splitter})
    if request.kind == "local":
        # Served by this process to itself: only slow when a room keeps it busy, so wait
        # rather than fail (20 sessions at once timed out at 20 s in bench/load_room.py).
        return s.merged(
            {"allow_private_urls": True, "fetch_timeout": max(s.fetch_timeout, LOCAL_FETCH_TIMEOUT)}
        )
    if is_hosted():  # typed URLs: never into the private network, never local files
        return s.merged({"allow_private_urls": False})
    return s


def build(request: BuildRequest, mode: str) -> None:
    s = build_settings(request)
    current = index() if mode == "add" else None
    stop = st.empty()
    stop.button("Stop", icon=":material/stop_circle:", key="stop_index")
    try:
        with st.status("Indexing…", expanded=True) as status:
            bar = st.progress(0.0, text="Starting…")
            log = st.container(height=220)
            embedder = embeddings_for(current.store.info.embedder) if current else embeddings()
            try:
                store, report = run_build(
                    s, request.urls, request.crawl, request.max_pages, embedder, bar, log
                )
            except Exception as error:
                status.update(label="Indexing failed", state="error")
                show_error(error)
                return
            if not report.pages_ok:
                status.update(label="No page could be indexed", state="error", expanded=True)
                _no_pages(report)
                return
            stop.empty()  # a Stop pressed until now ends the run here, and nothing is kept
            bar.progress(1.0, text="Preparing search…")
            # Kept before the page says the build is done: a user who goes to Chat at once
            # (a script run ends at its next message) must find the index there.
            kept = _keep(store, report, current, request.name)
            bar.progress(1.0, text="Done")
            status.update(label=report.summary(), state="complete", expanded=bool(report.failures))
    finally:
        _remove_uploads(request.urls)
        stop.empty()  # last: in an interrupted run this raises Streamlit's stop again
    st.success(kept)


def _no_pages(report: IndexReport) -> None:
    """Every page failed: say why, in full and outside the log box."""
    lines = [f"- {f.url}: {f.message}" for f in report.failures[:MAX_REASONS]]
    if len(report.failures) > MAX_REASONS:
        lines.append(f"- … and {len(report.failures) - MAX_REASONS} more")
    st.error(
        "None of the pages could be read, so the current index (if any) is kept:\n\n" + "\n".join(lines),
        icon=":material/error:",
    )


def _keep(store: SKLearnStore, report: IndexReport, current, name: str) -> str:
    """Make the build this session's index, added to the current one or on its own; the
    sentence that says which."""
    info = store.info
    if current is None:
        set_index(store, report, name=name)
        return f"Started a new index: {info.page_count} pages, {info.chunks} chunks."
    merged = merge_stores(current.store, store)
    again = current.store.info.page_count + info.page_count - merged.info.page_count
    set_index(merged, report, name=current.name or name)
    replaced = f" ({again} already there: their chunks were replaced)" if again else ""
    whose = "the leader's index (your copy)" if current.shared else "the current index"
    return (
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
        build(request, mode)
    load_form()
    summary()


if __name__ == "__main__":  # Streamlit runs a page as __main__; tests import its parts
    main()
