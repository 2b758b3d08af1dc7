"""Fusing the vector, BM25 and page lists by their standardised scores (rag/score_fusion.py)."""

import numpy as np
import pytest
from langchain_core.documents import Document

from rag.lexical import PassageBM25
from rag.retrieval import SMALL_SITE, Retriever
from rag.score_fusion import PageGroups, Signals, fuse, fuse_pages, runner_up, scaled_parts, standardise
from rag.store import SKLearnStore
from tests.rag.test_retrieval import _pages_store


def test_page_groups_take_each_pages_largest_value_whatever_the_row_order():
    groups = PageGroups.of(["a", "b", "a", "c", "b"])
    assert groups.best(np.array([1.0, 5.0, 3.0, 2.0, 4.0])).tolist() == [3.0, 5.0, 2.0]
    assert [groups.rows(p).tolist() for p in range(3)] == [[0, 2], [1, 4], [3]]


def test_standardise_over_the_masked_values_and_degenerate_cases():
    values = np.array([1.0, 3.0, 0.0])
    mean, std = standardise(values, values > 0)
    assert (mean, std) == (2.0, 1.0)
    # values that do not differ each count one deviation above the mean, not their raw size
    assert standardise(np.array([2.0, 2.0]), np.array([True, True])) == (1.0, 1.0)
    assert standardise(np.array([12.0]), np.array([True])) == (11.0, 1.0)
    assert standardise(np.array([12.0]), np.array([False])) == (0.0, 1.0)


def _signals(vector, lexical, centroid=None):
    vector, lexical = np.asarray(vector, np.float32), np.asarray(lexical, np.float32)
    return Signals(vector, lexical, np.zeros_like(vector) if centroid is None else np.asarray(centroid))


def test_scaled_parts_are_the_signals_in_order_with_none_where_one_says_nothing():
    """What fuse_pages sums (and bench/ reads): each signal standardised over the pages by
    its page's best value, None at weight 0 or with no finite value; a weight short fails."""
    groups = PageGroups.of(["a", "a", "b", "c"])
    broken = np.full(4, -np.inf, np.float32)
    signals = Signals(np.asarray([0.1, 0.5, 0.2, 0.3], np.float32), np.zeros(4, np.float32), broken)
    vector, lexical, centroid = scaled_parts(groups, signals, (1.0, 0.5, 0.25))
    assert centroid is None  # no finite value: left out, not -inf on every page
    assert vector is not None and vector.weight == 1.0 and vector.kind == "chunk"
    assert np.allclose(vector.page_z, (np.array([0.5, 0.2, 0.3]) - 1 / 3) / np.std([0.5, 0.2, 0.3]))
    assert lexical is not None and not lexical.page_z.any()  # no page matched: no evidence
    assert scaled_parts(groups, signals, (0.0, 0.5, 0.25))[0] is None
    with pytest.raises(ValueError, match="3 signals and 2 weights"):
        scaled_parts(groups, signals, (1.0, 0.5))


def test_a_page_far_ahead_in_bm25_passes_one_a_hair_ahead_in_the_vector_list():
    """Rank fusion (vector 1, BM25 0.5, k = 20) would put page 0 first: first in the vector
    list, second in BM25. Its vector lead is a hair; page 1's BM25 lead is large."""
    vector = [0.50, 0.49, *np.linspace(0.2, 0.3, 10)]
    lexical = [1.0, 9.0, *([0.5] * 10)]
    groups = PageGroups.of([f"p{i}" for i in range(12)])
    fused = fuse_pages(groups, _signals(vector, lexical), (1.0, 0.5, 0.0), depth=3)
    assert list(fused)[:2] == [1, 0]
    assert list(fused.values()) == sorted(fused.values(), reverse=True) and len(fused) == 3


def test_each_page_stands_for_itself_by_its_chunk_with_the_best_own_evidence():
    # page "a" has rows 0-2: row 1 is nearest by vector, row 2 holds the BM25 match
    keys = ["a", "a", "a", *(f"o{i}" for i in range(8))]
    vector = [0.30, 0.52, 0.50, *([0.1] * 8)]
    lexical = [0.0, 0.0, 12.0, *([1.0] * 8)]
    fused = fuse_pages(PageGroups.of(keys), _signals(vector, lexical), (1.0, 0.5, 0.0), depth=1)
    assert list(fused) == [2, 1, 0]  # its best chunk first, then the next ones a hair below
    assert fused[2] > fused[1] > fused[0] and fused[2] - fused[0] < 1e-6
    only_vector = fuse_pages(PageGroups.of(keys), _signals(vector, lexical), (1.0, 0.0, 0.0), depth=1)
    assert next(iter(only_vector)) == 1


def test_pages_without_a_bm25_match_are_neither_raised_nor_lowered_by_it():
    vector = [0.40, 0.40, 0.10, 0.10]
    lexical = [0.0, 2.0, 6.0, 10.0]  # page 0 has no match: its BM25 term is 0, page 1's is below the mean
    fused = fuse_pages(PageGroups.of(["a", "b", "c", "d"]), _signals(vector, lexical), (1.0, 0.5, 0.0), 4)
    assert list(fused) == [0, 1, 3, 2]  # one chunk each


def test_passage_bm25_scores_each_chunk_by_its_best_passage():
    pages = [("", [(0, "alpha beta " * 30), (1, "gamma delta " * 30)]), ("", [(2, "beta only here")])]
    bm25 = PassageBM25(pages, 200, stem=False)
    scores = bm25.row_scores("gamma", 4)
    assert scores.shape == (4,) and scores[1] > 0 and scores[2] == 0 and scores[3] == 0
    assert bm25.row_scores("beta", 4)[2] > 0


def test_store_similarities_are_the_search_similarities(local_embeddings):
    texts = ["GPU billing on Cloud Run", "Pasta for nine minutes", "Quotas for GPUs per region"]
    store = SKLearnStore(local_embeddings, "local:all-MiniLM-L6-v2")
    store.add_vectors([Document(t) for t in texts], local_embeddings.encode(texts))
    query = np.asarray(local_embeddings.embed_query("How is a GPU billed?"), dtype=np.float32)
    similarities = store.similarities(query)
    for row, similarity in store.search_vector(query, 3):
        assert abs(similarities[row] - similarity) < 1e-5


def _site(local_embeddings, pages: list[tuple[str, str]]) -> SKLearnStore:
    filler = [(f"other{i}", f"Unrelated page {i} about cooking pasta and sauces.") for i in range(SMALL_SITE)]
    return _pages_store(local_embeddings, [*pages, *filler])


def test_the_retriever_fuses_pages_by_score_keeping_its_other_rules(local_embeddings):
    pages = [
        ("ch-pipe.html", "Exit code 75 from the pipe command is a temporary error: delivery is retried."),
        ("ch29.html", "Exit code 75 from the pipe command is a temporary error: delivery is retried."),
        ("changelog-4.96.html", "Changes: exit code 75 of the pipe transport is now a temporary error."),
        ("ch-retry.html", "Retry rules say how often and for how long a failing delivery is tried again."),
        ("ch-smtp.html", "The smtp transport delivers messages to remote hosts over SMTP."),
    ]
    store = _site(local_embeddings, pages)
    question = "Which exit code makes a pipe delivery be retried later?"
    hits = Retriever(store, fusion="score", notes_penalty=None).search(question, k=4)
    urls = [h.document.metadata["url"].rsplit("/", 1)[-1] for h in hits]
    assert urls[0] == "ch-pipe.html" and "ch29.html" not in urls  # copies take one place
    assert len(set(urls)) == 4 and "changelog-4.96.html" not in urls[:2]  # release notes last
    weighed = Retriever(store, fusion="score").search(question, k=4)  # the default weighs them down
    assert weighed[0].document.metadata["url"] == "http://d/ch-pipe.html"
    assert [h.score for h in hits] == sorted((h.score for h in hits), reverse=True)
    assert all(0.0 < h.similarity <= 1.0 for h in hits)
    assert Retriever(store, plain=True, fusion="score").fusion == "rank"  # the baseline stays plain


def test_score_fusion_leaves_small_sites_and_extra_lists_to_rank_fusion(local_embeddings):
    store = SKLearnStore(local_embeddings, "local:all-MiniLM-L6-v2")
    texts = ["GPU billing on Cloud Run", "GPU quotas per region", "Pasta for nine minutes"]
    docs = [Document(t, metadata={"url": "http://d/one", "source": "http://d/one"}) for t in texts]
    store.add_vectors(docs, local_embeddings.encode(texts))
    small = Retriever(store, fusion="score").search("GPU billing", k=3)
    same = Retriever(store, fusion="rank").search("GPU billing", k=3)
    assert [h.document.page_content for h in small] == [h.document.page_content for h in same]
    big = _site(local_embeddings, [("gpu", "GPU billing on Cloud Run")])
    extra = np.asarray(local_embeddings.embed_query("pasta"), dtype=np.float32)
    ranked = Retriever(big, fusion="score").search("GPU billing", k=2, extra=[(extra, 0.5)])
    assert [h.document.page_content for h in ranked] == [
        h.document.page_content for h in Retriever(big).search("GPU billing", k=2, extra=[(extra, 0.5)])
    ]


def test_chunks_added_after_a_search_are_found_by_the_next(local_embeddings):
    store = _site(local_embeddings, [("gpu", "GPU billing on Cloud Run is per second.")])
    retriever = Retriever(store, fusion="score")
    assert retriever.search("How are GPUs billed?", k=1)[0].document.metadata["url"] == "http://d/gpu"
    text = "Cloud Run GPU quotas are set per region; request more in the console."
    doc = Document(text, metadata={"url": "http://d/quotas", "source": "http://d/quotas"})
    store.add_vectors([doc], local_embeddings.encode([text]))
    hits = retriever.search("How do I get a higher GPU quota in my region?", k=2)
    assert hits[0].document.metadata["url"] == "http://d/quotas"


def test_a_lone_bm25_match_counts_as_a_leader_not_by_its_raw_score():
    vector = [0.30, 0.50, *np.linspace(0.2, 0.45, 28)]
    lexical = [12.0, *([0.0] * 29)]  # one page matches the query's words
    groups = PageGroups.of([f"p{i}" for i in range(30)])
    fused = fuse_pages(groups, _signals(vector, lexical), (1.0, 0.5, 0.0), 30)
    z_vector = (0.30 - np.mean(vector)) / np.std(vector)
    assert fused[0] == pytest.approx(z_vector + 0.5, abs=1e-5)  # +1 deviation at half weight, not 0.5 * 12


def test_a_broken_vector_costs_its_page_its_evidence_not_every_search():
    vector = [np.nan, 0.9, 0.5, 0.4, 0.3]
    lexical = [0.0, 3.0, 1.0, 0.0, 0.0]
    fused = fuse_pages(PageGroups.of(list("abcde")), _signals(vector, lexical), (1.0, 0.5, 0.0), 5)
    assert all(np.isfinite(list(fused.values()))) and next(iter(fused)) == 1


def test_a_page_offers_as_many_chunks_as_its_cap_needs():
    keys = ["a"] * 6 + [f"o{i}" for i in range(6)]
    vector = [0.9, 0.8, 0.7, 0.6, 0.5, 0.4, *([0.1] * 6)]
    signals = _signals(vector, [0.0] * 12)
    assert len(fuse_pages(PageGroups.of(keys), signals, (1.0, 0.5, 0.0), depth=1)) == 3
    assert len(fuse_pages(PageGroups.of(keys), signals, (1.0, 0.5, 0.0), 1, rows_per_page=6)) == 6


def test_reading_more_chunks_a_page_keeps_the_chunks_the_pages_are_ranked_by():
    """What the model reads (Retriever.passages) takes more of each page's chunks than a search
    offers; the search's own offer must not grow with it, or a page whose first chunks repeat
    others' could rank differently for the model than for the sources."""
    keys = ["a"] * 6 + [f"o{i}" for i in range(6)]
    vector = [0.9, 0.8, 0.7, 0.6, 0.5, 0.4, *np.linspace(0.1, 0.3, 6)]
    signals, weights = _signals(vector, [0.0] * 12), (1.0, 0.5, 0.0)
    plain = fuse(PageGroups.of(keys), signals, weights, depth=3)
    read = fuse(PageGroups.of(keys), signals, weights, 3, read_rows=5)
    assert read.scores == plain.scores and len(plain.scores) == 5  # page a's 3 chunks, then o5, o4
    assert set(read.evidence) == set(plain.evidence) | {3, 4}  # page a's 4th and 5th chunks, read only
    assert read.evidence[3] > read.evidence[4]


def test_a_follow_ups_bare_question_is_a_fourth_signal_that_can_lift_its_page():
    # the history-laden query leans to page 0; the question alone points at page 1
    vector = [0.60, 0.45, *np.linspace(0.2, 0.3, 10)]
    question = np.asarray([0.20, 0.70, *np.linspace(0.2, 0.3, 10)], np.float32)
    lexical = [0.0] * 12
    groups = PageGroups.of([f"p{i}" for i in range(12)])
    plain = _signals(vector, lexical)
    with_question = Signals(plain.vector, plain.lexical, plain.centroid, question)
    assert next(iter(fuse_pages(groups, plain, (1.0, 0.5, 0.0), 2))) == 0  # no question, no signal
    assert next(iter(fuse_pages(groups, with_question, (1.0, 0.5, 0.0, 0.0), 2))) == 0  # weight 0: ignored
    assert next(iter(fuse_pages(groups, with_question, (1.0, 0.5, 0.0, 1.0), 2))) == 1
    with pytest.raises(ValueError, match="4 signals and 3 weights"):
        fuse_pages(groups, with_question, (1.0, 0.5, 0.0), 2)
    with pytest.raises(ValueError, match="3 signals and 4 weights"):  # the 4th would fall to the wrong signal
        fuse_pages(groups, plain, (1.0, 0.5, 0.0, 1.0), 2)


def test_further_signals_follow_the_question_and_take_their_own_weights():
    vector = [0.60, 0.45, *np.linspace(0.2, 0.3, 10)]
    more = np.asarray([0.0, 1.0, *[0.0] * 10], np.float32)  # points at page 1
    groups = PageGroups.of([f"p{i}" for i in range(12)])
    plain = _signals(vector, [0.0] * 12)
    extended = Signals(plain.vector, plain.lexical, plain.centroid, more=((more, "page"),))
    assert [kind for _, kind in extended.parts()] == ["chunk", "lexical", "page", "page"]
    assert next(iter(fuse_pages(groups, extended, (1.0, 0.5, 0.0, 0.0), 2))) == 0
    assert next(iter(fuse_pages(groups, extended, (1.0, 0.5, 0.0, 2.0), 2))) == 1


def test_the_bare_question_also_picks_the_chunk_that_stands_for_its_page():
    keys = ["a", "a", *(f"o{i}" for i in range(10))]
    vector = [0.50, 0.49, *np.linspace(0.1, 0.2, 10)]  # row 0 a hair nearer the history
    question = np.asarray([0.20, 0.80, *np.linspace(0.1, 0.2, 10)], np.float32)
    plain = _signals(vector, [0.0] * 12)
    signals = Signals(plain.vector, plain.lexical, plain.centroid, question)
    assert list(fuse_pages(PageGroups.of(keys), plain, (1.0, 0.5, 0.0), 1)) == [0, 1]
    assert list(fuse_pages(PageGroups.of(keys), signals, (1.0, 0.5, 0.0, 1.0), 1)) == [1, 0]


@pytest.mark.parametrize("weight", [0.0, 1.0])
def test_a_broken_question_embedding_is_no_evidence_and_spoils_nothing(weight):
    keys = ["a", "a", *(f"o{i}" for i in range(10))]
    vector = [0.4, 0.5, *np.linspace(0.2, 0.3, 10)]
    plain = _signals(vector, [0.0] * 12)
    signals = Signals(plain.vector, plain.lexical, plain.centroid, np.full(12, np.nan, np.float32))
    fused = fuse_pages(PageGroups.of(keys), signals, (1.0, 0.5, 0.0, weight), 3)
    assert all(np.isfinite(list(fused.values())))
    assert fused == fuse_pages(PageGroups.of(keys), plain, (1.0, 0.5, 0.0), 3)  # page a by its row 1


def test_runner_up_is_each_pages_second_distinct_value_none_for_a_page_without_one():
    """Rows in any order; a page of one chunk, and copies merged into one page that hold the
    same chunk twice, have no second value (NaN: no evidence), not their best again."""
    groups = PageGroups.of(["a", "b", "a", "c", "a", "d", "d", "b"])
    values = np.asarray([0.5, 0.3, 0.9, 0.2, 0.7, 0.4, 0.1, 0.3], np.float32)
    second = runner_up(groups, values)
    assert np.allclose(second[[0, 2, 4]], 0.7) and np.allclose(second[[5, 6]], 0.1)
    assert np.isnan(second[[1, 7, 3]]).all()  # b: one value twice; c: one chunk
    assert runner_up(PageGroups.of([]), np.zeros(0, np.float32)).shape == (0,)
    broken = np.asarray([0.5, np.nan, 0.9, 0.7, np.inf], np.float32)  # a broken chunk is no evidence
    assert np.allclose(runner_up(PageGroups.of(["a"] * 5), broken), 0.7)


def test_a_page_with_two_near_chunks_passes_one_with_a_single_nearer_chunk():
    keys = ["a", "a", "a", "b", "b", "b", *(f"o{i}" for i in range(10))]
    vector = [0.60, 0.20, 0.18, 0.58, 0.55, 0.20, *np.linspace(0.1, 0.3, 10)]
    plain = _signals(vector, [0.0] * 16)
    groups = PageGroups.of(keys)
    second = runner_up(groups, plain.vector)
    signals = Signals(plain.vector, plain.lexical, plain.centroid, second_chunk=second)
    assert [kind for _, kind in signals.parts()][-1] == "page"
    assert list(fuse_pages(groups, plain, (1.0, 0.5, 0.0), 1)) == [0, 1, 2]  # a by its best chunk
    assert list(fuse_pages(groups, signals, (1.0, 0.5, 0.0, 0.5), 1)) == [3, 4, 5]


def test_the_retriever_weighs_second_chunks_in_searches_not_in_counting_hub_pages(local_embeddings):
    pages = [("gpu", "GPU billing on Cloud Run is per second."), ("gpu", "GPU quotas are set per region.")]
    store = _site(local_embeddings, pages)
    query = "How are GPUs billed and what quota do I get?"
    assert Retriever(store)._signals(query, None)[0].second_chunk is None  # not taken: an option
    weighed = Retriever(store, second_chunk_weight=0.3)  # a weight no other signal has
    signals, weights, similarity = weighed._signals(query, None)
    assert signals.second_chunk is not None and weights[-1] == 0.3 and len(signals.parts()) == len(weights)
    assert signals.parts()[-1][0] is signals.second_chunk
    groups = weighed.page_groups()
    assert np.array_equal(signals.second_chunk, runner_up(groups, similarity), equal_nan=True)
    assert np.isfinite(signals.second_chunk[:2]).all()  # the page of two chunks has a second
    counted = weighed._evidence(query, None, weighed.embed_query(query), False)
    assert counted is not None and counted[0].second_chunk is None  # hub pages counted without it
    assert Retriever(store, plain=True, second_chunk_weight=0.125).second_chunk_weight == 0.0  # baseline
    assert weighed._second_chunks(similarity[:-1]) is None  # of a smaller store: left out
