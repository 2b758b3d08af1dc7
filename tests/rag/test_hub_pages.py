"""Hub pages: counted from the manual's own headings, once per store, and stepping back."""

import threading

import numpy as np
import pytest
from langchain_core.documents import Document

from rag.errors import EmbeddingError
from rag.hub_pages import SAMPLE, HubPages, probe_headings
from rag.retrieval import HUB_PAGE_WEIGHT, OUTLINE_WEIGHT, SMALL_SITE, Retriever, history_query
from tests.rag.pages import Counting, page, store_of

TOPICS = [
    "file uploads", "user sessions", "cookies", "templates", "logging", "caching", "url routing",
    "databases", "sending email", "testing", "security headers", "deployment", "signals",
    "pagination", "forms", "static files", "migrations", "middleware", "translations",
    "authentication", "permissions", "websockets", "background tasks", "rate limiting",
    "compression", "full-text search",
]  # fmt: skip


def _site() -> list[Document]:
    """A page a topic, and an overview that touches every topic (it comes up for all)."""
    docs: list[Document] = []
    for i, topic in enumerate(TOPICS):
        docs += page(
            f"t{i}",
            topic.title(),
            [
                (
                    f"Configuring {topic}",
                    f"Set the {topic} options in the settings module to configure {topic}.",
                ),
                (f"Troubleshooting {topic}", f"When {topic} fails, the log names the {topic} error."),
            ],
        )
    for part in range(0, len(TOPICS), 6):
        named = ", ".join(TOPICS[part : part + 6])
        docs += page(
            "overview",
            "Feature Overview",
            [
                (
                    f"Features part {part}",
                    f"This release configures {named}; see each chapter for troubleshooting.",
                )
            ],
        )
    return docs


def test_the_headings_searched_are_distinct_of_two_words_or_more_and_the_same_each_time():
    docs = _site() + page("x", "X", [("Intro", "one word: not searched"), ("Configuring logging", "again")])
    found = probe_headings(docs, lambda doc, row: doc.metadata["url"])
    texts = [text for text, _ in found]
    assert len(texts) == len(set(texts)) == 2 * len(TOPICS) + 5  # 52 topic headings, 5 overview parts
    assert "Intro" not in texts
    # every page that has a heading is left out of its count: it answers that heading
    assert ("Configuring logging", frozenset({"http://d/t4", "http://d/x"})) in found
    assert found == probe_headings(docs, lambda doc, row: doc.metadata["url"])  # a fixed sample
    many = page("m", "M", [(f"Heading number {i}", "body") for i in range(SAMPLE + 50)])
    assert len(probe_headings(many, lambda doc, row: "m")) == SAMPLE


def test_each_chunk_gets_minus_log_one_plus_its_pages_count():
    hubs = HubPages.of(["a", "a", "b", "c"], {"a": 3, "b": 0})  # c never came up
    assert np.allclose(hubs.rows, -np.log1p([3, 3, 0, 0])) and hubs.rows.dtype == np.float32
    assert hubs.counts == {"a": 3, "b": 0}


def test_a_page_that_comes_up_for_every_heading_is_the_hub_and_steps_back(local_embeddings):
    store = store_of(local_embeddings, _site())
    hubs = Retriever(store).hub_pages()
    assert max(hubs.counts, key=hubs.counts.__getitem__) == "http://d/overview"
    assert hubs.counts["http://d/overview"] >= 2 * len(TOPICS) // 2  # up for half the headings or more
    query = "How do I configure rate limiting and compression?"

    def scores(weight: float) -> dict[str, float]:
        hits = Retriever(store, hub_page_weight=weight).search(query, 4)
        return {h.document.metadata["url"].rsplit("/", 1)[1]: h.score for h in hits}

    without, with_hubs = scores(0.0), scores(HUB_PAGE_WEIGHT)
    assert "overview" in without  # the hub is among the first four either way: compare its lead
    for topic in ("t23", "t24"):
        assert with_hubs[topic] - with_hubs.get("overview", -9.0) > without[topic] - without["overview"]
    signals, weights, _ = Retriever(store)._signals(query, None)
    assert signals.hub_pages is not None and weights[-1] == HUB_PAGE_WEIGHT
    assert len(signals.parts()) == len(weights)
    assert Retriever(store, plain=True).hub_page_weight == 0.0  # the notebook+RRF baseline stays plain


@pytest.mark.parametrize("cold_start", range(3))  # each a fresh store and retriever
def test_sessions_asking_their_first_question_at_once_count_the_hubs_once(local_embeddings, cold_start):
    counting = Counting(local_embeddings)
    store = store_of(counting, _site())
    before = counting.calls
    retriever = Retriever(store, outline_weight=0.0)
    start = threading.Barrier(8)
    found: list[list[str]] = []

    def ask(question: str) -> None:
        start.wait()
        found.append([h.document.metadata["url"] for h in retriever.search(question, 4)])

    threads = [threading.Thread(target=ask, args=("How do I configure caching?",)) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert counting.calls - before == 1 and len(found) == 8 and all(f == found[0] for f in found)
    expected = Retriever(store, outline_weight=0.0)
    expected.adopt(retriever.bm25(), retriever.hubness(), retriever.centroids(), retriever.hub_pages())
    assert found[0] == [h.document.metadata["url"] for h in expected.search("How do I configure caching?", 4)]
    retriever.search("sessions", 4)  # later searches reuse the count
    assert counting.calls - before == 1
    store.add_vectors(page("new", "New", [("New page", "A new page.")]), np.ones((1, 384), np.float32))
    retriever.search("sessions", 4)  # the store grew: counted again
    assert counting.calls - before == 2


def test_prepare_counts_the_hubs_where_pages_are_fused_by_score(local_embeddings):
    counting = Counting(local_embeddings)
    store = store_of(counting, _site())
    texts, counting.calls = counting.texts, 1  # the chunks' own batch
    retriever = Retriever(store, outline_weight=0.0)
    retriever.prepare()
    assert counting.texts - texts == 2 * len(TOPICS) + 5 and counting.calls == 2  # every heading, one batch
    assert retriever._hub_pages is not None
    small = store_of(counting, _site()[: SMALL_SITE - 1])  # 4 chunks, 2 pages: a small site, no hubs
    before = counting.calls
    Retriever(small, outline_weight=0.0).prepare()
    Retriever(store, outline_weight=0.0, hub_page_weight=0.0).prepare()
    for mode in ("vector", "bm25"):  # no score fusion: nothing counted, before or at a search
        other = Retriever(store, outline_weight=0.0, mode=mode)
        other.prepare()
        other.search("How do I configure caching?", 4)
    assert counting.calls == before
    bare = store_of(counting, [Document(f"Text {i}.", metadata={"url": f"http://d/{i}"}) for i in range(25)])
    hubs = Retriever(bare, outline_weight=0.0).hub_pages()  # no headings: nothing to search, all zero
    assert hubs.counts == {} and not hubs.rows.any() and len(hubs.rows) == 25


def test_a_follow_up_weighs_its_outline_then_the_hub_pages(local_embeddings):
    store = store_of(local_embeddings, _site())
    history = [
        {"role": "user", "content": "How do I configure caching?"},
        {"role": "assistant", "content": "Set it."},
    ]
    query = history_query("And logging?", history)
    signals, weights, _ = Retriever(store)._signals(query, "And logging?")
    parts = signals.parts()
    assert len(parts) == len(weights) and weights[-2:] == [OUTLINE_WEIGHT, HUB_PAGE_WEIGHT]
    assert parts[-2][0] is signals.outline and parts[-1][0] is signals.hub_pages


def test_counts_of_a_smaller_store_are_not_adopted_nor_weighed(local_embeddings):
    store = store_of(local_embeddings, _site())
    first = Retriever(store, outline_weight=0.0)
    stale = first.hub_pages()
    store.add_vectors(page("new", "New", [("New page", "A new page.")]), np.ones((1, 384), np.float32))
    later = Retriever(store, outline_weight=0.0)
    later.adopt(first.bm25(), first.hubness(), first.centroids(), stale)
    assert later._hub_pages is None  # of 57 chunks, for a store of 58: counted afresh
    assert len(later.hub_pages().rows) == len(store) == len(stale.rows) + 1


class _QueriesOnly:
    """An embedder whose documents endpoint is down (a remote one that is still starting)."""

    def __init__(self, inner) -> None:
        self.inner, self.down = inner, True

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        if self.down:
            raise EmbeddingError("The embedding service is not answering.", "Try again in a minute.")
        return self.inner.embed_documents(texts)

    def embed_query(self, text: str) -> list[float]:
        return self.inner.embed_query(text)


class _Calls:
    """Another embedder, counting its documents calls, failed or not."""

    def __init__(self, inner) -> None:
        self.inner, self.documents = inner, 0

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        self.documents += 1
        return self.inner.embed_documents(texts)

    def embed_query(self, text: str) -> list[float]:
        return self.inner.embed_query(text)


def test_an_embedder_that_fails_leaves_the_hubs_out_until_it_answers(local_embeddings):
    store = store_of(local_embeddings, _site())
    embedder = _QueriesOnly(local_embeddings)
    store._embedding = embedder
    calls = _Calls(embedder)
    store._embedding = calls
    retriever = Retriever(store, outline_weight=0.0)
    retriever.prepare()  # the index still opens
    assert calls.documents == 1
    query = "How do I configure rate limiting and compression?"
    plain = Retriever(store, outline_weight=0.0, hub_page_weight=0.0).search(query, 4)
    assert [h.document.metadata["url"] for h in retriever.search(query, 4)] == [
        h.document.metadata["url"] for h in plain
    ]
    assert retriever._hub_pages is None and calls.documents == 1  # not tried again at once
    retriever.hub_retry_s = 0.0
    retriever.search(query, 4)  # the wait is over: one search tries again (still down)
    assert calls.documents == 2 and retriever._hub_pages is None
    embedder.down = False  # it answers now: the next search counts them
    retriever.search(query, 4)
    assert retriever._hub_pages is not None and "http://d/overview" in retriever._hub_pages.counts


def test_counts_made_while_the_store_grew_are_not_kept(local_embeddings):
    """A page added while the headings are being searched: the count is of the smaller store,
    so this search goes without it and the next one counts again."""
    store = store_of(local_embeddings, _site())
    retriever = Retriever(store, outline_weight=0.0)
    retriever.bm25(), retriever.centroids(), retriever.page_groups()

    class Growing(Counting):
        def embed_documents(self, texts: list[str]) -> list[list[float]]:
            if self.calls == 0:  # the first count's batch: a session adds a page meanwhile
                store.add_vectors(
                    page("new", "New", [("New page", "A new page.")]), np.ones((1, 384), np.float32)
                )
            return super().embed_documents(texts)

    growing = Growing(local_embeddings)
    store._embedding = growing
    first = retriever.hub_pages()
    assert len(first.rows) == len(store) - 1 and retriever._hub_pages is None
    signals, _, _ = retriever._signals("How do I configure caching?", None)  # counts again, for 58
    assert growing.calls == 2 and signals.hub_pages is not None and len(signals.hub_pages) == len(store)
