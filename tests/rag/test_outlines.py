"""Page outlines: what they hold, and that only follow-ups weigh them, once per store."""

import threading

import numpy as np
import pytest
from langchain_core.documents import Document

from rag.errors import EmbeddingError
from rag.outlines import HEADING_CHARS, LEAD_CHARS, Outlines, outline_text
from rag.retrieval import OUTLINE_WEIGHT, Retriever, history_query
from rag.store import SKLearnStore, merge_stores, pages_of, read_index
from tests.rag.pages import Counting, page, store_of
from tests.rag.test_cli import run
from tests.servers.site import SiteServer

HISTORY = [
    {"role": "user", "content": "How do I let users upload files to my app?"},
    {
        "role": "assistant",
        "content": "Use a multipart form and read request.files in the view, then save each file.",
    },
]
ASK = "And how big can they be?"


def _site() -> list[Document]:
    docs = page(
        "uploads",
        "Uploading Files",
        [
            (
                "A Gentle Introduction",
                "The form needs enctype=multipart/form-data; the view reads request.files.",
            ),
            ("Improving Uploads", "Set MAX_CONTENT_LENGTH and a bigger request is refused with 413."),
            ("Upload Progress Bars", "A script can poll the server to show how far along the transfer is."),
        ],
    )
    docs += page(
        "config",
        "Configuration Handling",
        [
            (
                "Builtin Values",
                "MAX_CONTENT_LENGTH: the largest request body in bytes; a larger one is refused with 413.",
            ),
            ("Configuring from Files", "Load settings from a Python file with from_pyfile."),
        ],
    )
    for i in range(25):  # a site of 20+ pages: pages are fused by score
        docs += page(
            f"other{i}", f"Cooking {i}", [("Pasta", f"Unrelated page {i} about pasta."), ("Bread", "Bread.")]
        )
    return docs


def _retriever(store: SKLearnStore, **settings) -> Retriever:
    """The default without hub pages: they embed the manual's headings in a batch of their own
    (tests/rag/test_hub_pages.py), and these tests count the outlines' embeddings."""
    return Retriever(store, hub_page_weight=0.0, **settings)


def test_an_outline_is_the_title_the_distinct_headings_and_the_first_lines():
    long = "word " * 200
    docs = page("p", "Uploading Files", [("Intro", long), ("Limits", "x"), ("Intro", "again")])
    text = outline_text(docs, [0, 1, 2])
    title, headings, lead = text.split("\n")
    assert title == "Uploading Files"
    assert headings == "Intro; Limits"  # each heading once, the path's last part only
    assert lead == " ".join(long.split())[:LEAD_CHARS] and "Uploading Files ›" not in lead
    many = page("q", "T", [(f"Heading number {i}", "body") for i in range(100)])
    assert len(outline_text(many, range(100)).split("\n")[1]) == HEADING_CHARS
    bare = [Document("just text", metadata={"url": "http://d/bare"})]  # no title, no heading
    assert outline_text(bare, [0]) == "just text"


def test_outlines_are_unit_vectors_one_a_page_and_map_each_chunk_to_its_page(local_embeddings):
    docs = _site()
    pages = {"uploads": [0, 1, 2], "config": [3, 4], **{f"o{i}": [5 + 2 * i, 6 + 2 * i] for i in range(25)}}
    outlines = Outlines.of(docs, pages, local_embeddings)
    assert outlines.vectors.shape == (27, 384)
    assert np.allclose(np.linalg.norm(outlines.vectors, axis=1), 1.0, atol=1e-5)
    assert outlines.page_of_row.tolist()[:7] == [0, 0, 0, 1, 1, 2, 2]
    query = np.asarray(local_embeddings.embed_query("uploading files"), dtype=np.float32)
    scores = outlines.row_scores(query)
    assert len(scores) == len(docs) and scores[0] == scores[2] and int(np.argmax(scores)) == 0
    empty = Outlines.of([], {}, local_embeddings)
    assert empty.row_scores(query).shape == (0,)
    kept = Outlines.of(docs, pages, _Failing(), {**outlines.by_page()})  # kept: nothing embedded
    assert np.array_equal(kept.vectors, outlines.vectors)


def test_a_follow_up_weighs_the_pages_outlines_and_a_single_turn_question_does_not(local_embeddings):
    """The conversation is about uploading files, the follow-up asks how big: both pages state
    the limit; the page whose outline names the conversation's topic leads by more with it."""
    store = store_of(local_embeddings, _site())
    query = history_query(ASK, HISTORY)

    def scores(weight: float, question: str | None) -> dict[str, float]:
        hits = _retriever(store, outline_weight=weight).search(query, 3, question=question)
        return {h.document.metadata["url"].rsplit("/", 1)[1]: h.score for h in hits}

    without, with_outlines = scores(0.0, ASK), scores(0.75, ASK)
    assert list(with_outlines)[:2] == ["uploads", "config"]
    gap = with_outlines["uploads"] - with_outlines["config"]
    assert gap > without["uploads"] - without["config"] + 0.5
    assert scores(0.0, None) == scores(0.75, None)  # a single-turn search is the same
    signals, weights, _ = _retriever(store)._signals(query, ASK)
    assert weights[-1] == OUTLINE_WEIGHT and signals.outline is not None
    assert len(signals.parts()) == len(weights)
    assert _retriever(store)._signals(query, None)[0].outline is None
    assert Retriever(store, plain=True).outline_weight == 0.0  # the notebook+RRF baseline stays plain


@pytest.mark.parametrize("cold_start", range(3))  # each a fresh store and retriever
def test_sessions_asking_their_first_follow_up_at_once_embed_the_outlines_once(local_embeddings, cold_start):
    counting = Counting(local_embeddings)
    store = store_of(counting, _site())
    before = counting.calls
    retriever = _retriever(store)
    query = history_query(ASK, HISTORY)
    start = threading.Barrier(8)
    found: list[list[str]] = []

    def ask() -> None:
        start.wait()
        found.append([h.document.metadata["url"] for h in retriever.search(query, 3, question=ASK)])

    threads = [threading.Thread(target=ask) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert counting.calls - before == 1 and len(found) == 8 and all(f == found[0] for f in found)
    retriever.search(query, 3, question=ASK)  # a later follow-up reuses them
    assert counting.calls - before == 1
    store.add_vectors(page("new", "New", [("N", "A new page.")]), np.ones((1, 384), np.float32))
    retriever.search(query, 3, question=ASK)  # the store grew: outlines are embedded again
    assert counting.calls - before == 2


def test_prepare_embeds_the_outlines_where_follow_ups_weigh_them(local_embeddings):
    counting = Counting(local_embeddings)
    store = store_of(counting, _site())
    before, texts = counting.calls, counting.texts
    _retriever(store).prepare()
    assert counting.calls - before == 1 and counting.texts - texts == 27  # one outline a page
    small = store_of(counting, _site()[:5])  # a small site: chunks are fused by rank, no outlines
    before = counting.calls
    _retriever(small).prepare()
    _retriever(store, outline_weight=0.0).prepare()
    assert counting.calls == before


def test_an_index_file_carries_the_outlines_so_a_search_that_loads_it_embeds_none(local_embeddings, tmp_path):
    counting = Counting(local_embeddings)
    store = store_of(counting, _site())
    _retriever(store).prepare()
    path = store.save(tmp_path / "site.ragidx")
    loaded = SKLearnStore.load(path, counting, "local:all-MiniLM-L6-v2")
    before = counting.calls
    query = history_query(ASK, HISTORY)
    hits = _retriever(loaded).search(query, 3, question=ASK)
    assert counting.calls == before  # the outlines came from the file
    assert [h.document.metadata["url"] for h in hits] == [
        h.document.metadata["url"] for h in _retriever(store).search(query, 3, question=ASK)
    ]
    # a page added later: only its outline is embedded, and the file then carries all 28
    loaded.add_vectors(page("new", "New", [("N", "A new page.")]), np.ones((1, 384), np.float32))
    texts = counting.texts
    _retriever(loaded).search(query, 3, question=ASK)
    assert counting.texts - texts == 1
    again = read_index(loaded.save(tmp_path / "grown.ragidx"))
    assert again.outlines is not None and again.outlines.shape == (28, 384)


def test_an_index_built_from_the_command_line_carries_its_outlines(tmp_path):
    """`python -m rag index --save` prepares the retriever before saving (rag/cli/build.py)."""
    site = tmp_path / "site"
    site.mkdir()
    for i in range(22):  # 20+ pages: follow-ups weigh outlines
        body = f"<h1>Topic {i}</h1><p>This page explains topic number {i} in a few plain words.</p>"
        (site / f"p{i}.html").write_text(
            f"<html><head><title>Topic {i}</title></head><body>{body}</body></html>"
        )
    with SiteServer(site) as server:
        urls = tmp_path / "urls.txt"
        urls.write_text("".join(f"{server.url}/p{i}.html\n" for i in range(22)))
        run("index", "--urls-file", str(urls), "--save", str(tmp_path / "t.ragidx"), "--quiet")
    parts = read_index(tmp_path / "t.ragidx")
    assert parts.outlines is not None and parts.outlines.shape == (22, 384)
    assert np.allclose(np.linalg.norm(parts.outlines, axis=1), 1.0, atol=1e-5)


def test_a_page_indexed_again_gets_its_outline_embedded_again(local_embeddings):
    store = store_of(local_embeddings, _site())
    pages = list(dict.fromkeys(d.metadata["url"] for d in store.documents))
    _retriever(store).prepare()
    assert len(store.outlines_for(pages)) == 27
    generation = store.generation
    fresh = page("config", "Configuration Handling", [("Builtin Values", "Renamed settings.")])
    store.add_vectors(fresh, np.ones((1, 384), np.float32), ids=[store.ids[3]])  # same page, new text
    assert "http://d/config" not in store.outlines_for(pages) and len(store.outlines_for(pages)) == 26
    # outlines embedded from the chunks as they were before the change are not kept
    assert not store.keep_outlines({"http://d/config": np.ones(384, np.float32)}, generation)
    assert "http://d/config" not in store.outlines_for(pages)


def test_adding_pages_to_an_index_embeds_only_the_new_pages_outlines(local_embeddings):
    counting = Counting(local_embeddings)
    base = store_of(counting, _site())
    _retriever(base).prepare()
    extra = store_of(counting, page("extra", "Extra Page", [("E", "More about uploads.")]))
    merged = merge_stores(base, extra)
    texts = counting.texts
    _retriever(merged).prepare()
    assert counting.texts - texts == 1 and len(merged.outlines_for(pages_of(merged.documents))) == 28


class _Failing:
    """An embedder whose documents endpoint is down (a remote one that is still starting)."""

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        raise EmbeddingError("The embedding service is not answering.", "Try again in a minute.")

    def embed_query(self, text: str) -> list[float]:
        raise AssertionError("not asked")


def test_an_embedder_that_fails_leaves_the_outlines_out_and_loses_nothing(local_embeddings):
    store = store_of(local_embeddings, _site())
    store._embedding = _Query(local_embeddings)  # queries work, documents fail
    retriever = _retriever(store)
    retriever.prepare()  # the index still opens
    query = history_query(ASK, HISTORY)
    hits = retriever.search(query, 3, question=ASK)  # ranked without outlines
    expected = _retriever(store, outline_weight=0.0).search(query, 3, question=ASK)
    assert [h.document.metadata["url"] for h in hits] == [h.document.metadata["url"] for h in expected]
    assert retriever.search(query, 3)  # single-turn searches never needed them


class _Query(_Failing):
    def __init__(self, inner) -> None:
        self.inner = inner

    def embed_query(self, text: str) -> list[float]:
        return self.inner.embed_query(text)


def test_other_searches_do_not_wait_for_the_outlines_being_embedded(local_embeddings):
    """The first follow-up on an index without outlines embeds them; a single-turn search
    in another session meanwhile is answered at once (the outlines hold their own lock)."""
    release, embedding = threading.Event(), threading.Event()

    class Slow(Counting):
        def embed_documents(self, texts: list[str]) -> list[list[float]]:
            embedding.set()
            assert release.wait(30), "the other search never finished"
            return super().embed_documents(texts)

    store = store_of(local_embeddings, _site())
    store._embedding = Slow(local_embeddings)
    retriever = _retriever(store)
    retriever.search("uploads", 3)  # BM25 and the rest built, as after prepare() without outlines
    follow_up = threading.Thread(
        target=lambda: retriever.search(history_query(ASK, HISTORY), 3, question=ASK)
    )
    follow_up.start()
    assert embedding.wait(30)
    answered = threading.Event()
    single = threading.Thread(
        target=lambda: retriever.search("how big can an upload be", 3) and answered.set()
    )
    single.start()
    assert answered.wait(10), "a single-turn search waited for the outlines being embedded"
    release.set()
    single.join(30)
    follow_up.join(30)
    assert not follow_up.is_alive()
