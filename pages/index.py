"""Index: turn web pages (or the bundled sample guide, or your files) into this session's index."""

from __future__ import annotations

import shutil
import tempfile
import threading
from pathlib import Path

import pandas as pd
import streamlit as st

from pages.common.connection import sidebar
from pages.common.errors import show_error
from pages.common.sample import sample_url
from pages.common.state import embeddings, index, is_hosted, set_index, settings
from rag.indexing import EmbedEvent, PageEvent
from rag.pipeline import index_pages
from rag.splitting import SPLITTERS
from rag.store import SKLearnStore, read_index

SPLITTER_LABELS = {
    "sections": "By headings (default; best in our benchmark)",
    "recursive": "Recursive characters",
    "notebook": "The notebook's CharacterTextSplitter (800/100)",
}


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


def build(kind: str, urls: list[str], crawl: str | None, max_pages: int, splitter: str) -> None:
    s = settings().merged({"splitter": splitter})
    if kind == "local":  # the bundled guide and uploads: files this app wrote or ships, also when hosted
        s = s.merged({"allow_private_urls": True})
    elif is_hosted():  # typed URLs: never into the private network, never local files
        s = s.merged({"allow_private_urls": False})
    stop = st.empty()
    stop.button("Stop", icon=":material/stop_circle:", key="stop_index")
    cancel = threading.Event()
    with st.status("Indexing…", expanded=True) as status:
        progress = st.progress(0.0, text="Fetching pages…")
        log = st.container(height=220)
        seen = {"pages": 0, "chunks": 0}
        expected = len(urls) + (max_pages if crawl else 0)  # a crawl's limit: the most it fetches

        def on_event(event) -> None:
            if isinstance(event, PageEvent):
                r = event.result
                seen["pages"] = event.pages_done
                if not seen["chunks"]:  # nothing embedded yet: show the fetching
                    progress.progress(
                        min(event.pages_done / max(expected, 1), 1.0) * 0.1,
                        text=f"Fetched {event.pages_done} pages" + (f" of {expected}" if not crawl else ""),
                    )
                if r.ok:
                    log.markdown(
                        f":green[:material/check:] {r.title or r.url} — {len(r.documents)} chunks  \n"
                        f"<small>{r.url}</small>",
                        unsafe_allow_html=True,
                    )
                else:
                    log.markdown(
                        f":red[:material/close:] {r.url}  \n<small>{r.error}</small>", unsafe_allow_html=True
                    )
            elif isinstance(event, EmbedEvent):
                done, total = event.chunks_done, max(event.chunks_seen, 1)
                seen["chunks"] = done
                progress.progress(
                    min(done / total, 1.0),
                    text=f"Embedded {done} of {event.chunks_seen} chunks from {seen['pages']} pages",
                )

        try:
            store, report = index_pages(
                s,
                urls=urls,
                crawl=crawl,
                max_pages=max_pages or None,
                embeddings=embeddings(),
                on_event=on_event,
                cancel=cancel,
            )
        except Exception as error:
            cancel.set()
            status.update(label="Indexing failed", state="error")
            show_error(error)
            return
        finally:
            cancel.set()
            _remove_uploads(urls)
        if not report.pages_ok:
            status.update(label="No page could be indexed", state="error")
            st.error(
                "None of the pages could be read, so the previous index (if any) is kept. "
                "See the reasons above."
            )
            return
        stop.empty()
        progress.progress(1.0, text="Done")
        status.update(label=report.summary(), state="complete", expanded=bool(report.failures))
    set_index(store, report, name=crawl or (urls[0] if urls else "index"))


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
    cols = st.columns(4)
    cols[0].metric("Pages", info.page_count)
    cols[1].metric("Chunks", info.chunks)
    cols[2].metric("Embedder", info.embedder.split(":", 1)[1])
    report = built.report
    if report is not None:
        cols[3].metric(
            "Chunks/s",
            f"{report.chunks_per_s:.0f}",
            help=f"{report.seconds:.1f} s in all; "
            f"{report.chunks - report.embedded} chunks came from the shared cache",
        )
        if report.failures:
            with st.expander(f"{len(report.failures)} pages failed", icon=":material/error:"):
                st.dataframe(pd.DataFrame([f.__dict__ for f in report.failures]), hide_index=True)
    preview = pd.DataFrame(
        [
            {
                "title": d.metadata.get("title", ""),
                "heading": d.metadata.get("heading", ""),
                "source": d.metadata.get("source", ""),
                "text": d.page_content[:300],
            }
            for d in built.store.documents[:200]
        ]
    )
    st.caption("The first chunks:")
    st.dataframe(
        preview, hide_index=True, column_config={"source": st.column_config.LinkColumn("source")}, height=260
    )
    st.download_button(
        "Save index file",
        data=lambda store=built.store: _index_bytes(store),  # built only when clicked
        file_name="index.ragidx",
        icon=":material/download:",
        mime="application/zip",
    )


def _index_bytes(store: SKLearnStore) -> bytes:
    with tempfile.TemporaryDirectory() as folder:
        return store.save(Path(folder) / "index.ragidx").read_bytes()


def load_form() -> None:
    with st.expander("Load an index file", icon=":material/upload:"):
        st.caption("Prepared in advance with the Save button or `python -m rag index ... --save FILE`.")
        upload = st.file_uploader("Index file (.ragidx)", type=["ragidx", "zip"], key="index_file")
        if upload is not None and st.button("Load", key="load_index"):
            with tempfile.TemporaryDirectory() as folder:
                path = Path(folder) / "upload.ragidx"
                path.write_bytes(upload.getvalue())
                try:
                    info, *_ = read_index(path)
                    embedder, spec = embeddings()
                    if info.embedder != spec.id:  # an index is queried with the embedder that built it
                        embedder, spec = _embeddings_for(info.embedder)
                    store = SKLearnStore.load(path, embedder, spec.id)
                except Exception as error:
                    show_error(error)
                    return
            set_index(store, None, name=upload.name)
            st.success(f"Loaded {store.info.chunks} chunks from {store.info.page_count} pages.")


def _embeddings_for(embedder_id: str):
    from pages.common.state import update_settings

    provider, _, model = embedder_id.partition(":")
    update_settings(embeddings=provider, embedding_model=model)
    return embeddings()


sidebar()
st.title("Index")
st.caption(
    "Pages are fetched, stripped of navigation, split by headings and embedded into this session's "
    "vector store. Nothing leaves your machine with the default embedder."
)
request = sources_form()
if request is not None:
    build(*request)
summary()
load_form()
