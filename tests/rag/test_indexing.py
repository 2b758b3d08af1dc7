"""Indexing the sample guide over HTTP with the real local embedder."""

import threading
import time

import numpy as np
import pytest

from rag.embeddings.cache import CachedEmbeddings, VectorCache
from rag.errors import Cancelled
from rag.indexing import EmbedEvent, PageEvent, build_index
from rag.loading.fetch import FetchConfig
from rag.loading.loader import WebLoader
from rag.splitting import get_splitter

ID = "local:all-MiniLM-L6-v2"


def index(site, embeddings, paths=(), **kwargs):
    return build_index(
        WebLoader(FetchConfig(timeout=2)),
        embeddings,
        ID,
        urls=[f"{site.url}/{p}" for p in paths],
        splitter=("sections", get_splitter("sections")),
        **kwargs,
    )


def test_crawl_index_reports_pages_chunks_and_failures(site, local_embeddings):
    events = []
    store, report = index(
        site,
        local_embeddings,
        ["missing.html", "report.pdf"],
        crawl=f"{site.url}/index.html",
        max_pages=20,
        on_event=events.append,
    )
    assert report.pages_ok == 7 and {f.reason for f in report.failures} == {"http-404", "unsupported-type"}
    assert report.chunks == len(store) > 7 and store.info.page_count == 7
    assert report.seconds > 0 and report.chunks_per_s > 0
    assert sum(isinstance(e, PageEvent) for e in events) == 9
    assert [e for e in events if isinstance(e, EmbedEvent)][-1].chunks_done == report.chunks
    assert store.info.embedder == ID and store.info.splitter == "sections"


def test_identical_requests_share_the_embedding_work(site, local_embeddings):
    cache = VectorCache()
    first = CachedEmbeddings(local_embeddings, ID, cache)
    _, report1 = index(site, first, ["gemma.html", "ollama.html"])
    second = CachedEmbeddings(local_embeddings, ID, cache)
    store2, report2 = index(site, second, ["gemma.html", "ollama.html"])
    assert report1.embedded == report1.chunks > 0
    assert report2.embedded == 0 and report2.chunks == report1.chunks
    assert store2.similarity_search("quantization bits", k=1)[0].metadata["source"].endswith("#quantization")


def test_cancel_stops_indexing(site, local_embeddings):
    site.handler.delay = 0.3
    cancel = threading.Event()

    def stop_after_first(event):
        if isinstance(event, PageEvent):
            cancel.set()

    with pytest.raises(Cancelled):
        index(
            site,
            local_embeddings,
            ["gemma.html", "ollama.html", "rag.html", "deploy.html"],
            on_event=stop_after_first,
            cancel=cancel,
        )


def test_a_site_with_nothing_indexable_gives_an_empty_store(site, local_embeddings):
    store, report = index(site, local_embeddings, ["missing.html", "empty.html"])
    assert len(store) == 0 and report.pages_ok == 0 and len(report.failures) == 2


class SlowLoader:
    """Pages that arrive one at a time, a second apart, as from a slow site."""

    def load(self, urls, *, crawl=None, max_pages=50, transform=None, cancel=None):
        from langchain_core.documents import Document

        from rag.loading.loader import PageResult

        for n in range(2):
            if n:
                time.sleep(1.0)
            doc = Document(f"Page {n} says something about quantization.", metadata={"url": f"u{n}"})
            yield PageResult(f"u{n}", [doc], title=f"Page {n}")


def test_waiting_for_a_slow_loader_does_not_spin(local_embeddings):
    """While a batch is not full the consumer blocks on the loader's queue; polling it spun
    a core and held the GIL every other session of the app needed."""
    started = time.thread_time()
    store, report = build_index(SlowLoader(), local_embeddings, ID, urls=["u0", "u1"], splitter=("x", list))
    assert report.pages_ok == 2 and len(store) == 2
    assert time.thread_time() - started < 0.5  # the wait alone is a second; spinning burns it all


class BackwardsLoader:
    """Pages that finish in the reverse of the order asked for, two chunks each; the first
    URL redirects, so its rows carry the final URL."""

    def load(self, urls, *, crawl=None, max_pages=50, transform=None, cancel=None):
        from langchain_core.documents import Document

        from rag.loading.loader import PageResult

        for url in reversed(list(urls)):
            final = f"{url}-moved" if url == "u0" else url
            docs = [Document(f"{url} part {i}", metadata={"url": final}) for i in range(2)]
            yield PageResult(url, docs, title=url.upper(), final_url=final)
        if crawl:  # found by following links: after every page asked for, by URL
            for url in ("z-crawled", "a-crawled"):
                yield PageResult(url, [Document(url, metadata={"url": url})], title=url)


def test_rows_follow_the_pages_asked_for_not_the_order_fetches_finish(local_embeddings):
    """Two identical pages tie in every list; stored in fetch-completion order, which one a
    search returned first changed from one build of the same manual to the next."""
    urls = ["u0", "u1", "u2"]
    store, _ = build_index(
        BackwardsLoader(), local_embeddings, ID, urls=urls, crawl="seed", splitter=("x", list)
    )
    assert [d.page_content for d in store.documents] == [
        *(f"{u} part {i}" for u in urls for i in range(2)),
        "a-crawled",
        "z-crawled",
    ]
    assert [p["url"] for p in store.info.pages] == ["u0-moved", "u1", "u2", "a-crawled", "z-crawled"]
    vectors = local_embeddings.embed_documents([d.page_content for d in store.documents])
    assert store.vectors == pytest.approx(np.asarray(vectors), abs=1e-5)
    assert store.search_vector(store.vectors[2], 1)[0][0] == 2  # the fitted search sees the new order


def test_index_pages_takes_another_splitter_than_the_settings_one(site, local_embeddings):
    from rag.embeddings.base import EmbedderSpec
    from rag.pipeline import index_pages
    from rag.settings import Settings

    urls = [f"{site.url}/{p}" for p in ("rag.html", "ollama.html", "deploy.html")]
    spec = EmbedderSpec("local", "all-MiniLM-L6-v2")
    default, _ = index_pages(Settings(), urls=urls, embeddings=(local_embeddings, spec))
    folded, _ = index_pages(
        Settings(),
        urls=urls,
        embeddings=(local_embeddings, spec),
        splitter=("sections", get_splitter("sections", min_section=2000)),
    )
    # every section under 2,000 characters is folded into the next: fewer, longer chunks
    assert 0 < len(folded) < len(default)
    assert folded.info.splitter == default.info.splitter == "sections"
    assert max(len(d.page_content) for d in folded.documents) > max(
        len(d.page_content) for d in default.documents
    )
