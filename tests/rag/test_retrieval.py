import numpy as np
from langchain_core.documents import Document

from rag.lexical import BM25, tokenize
from rag.retrieval import Retriever, history_query
from rag.store import SKLearnStore


def test_tokenize_keeps_identifiers_and_their_parts_without_stop_words():
    assert tokenize("The functools.lru_cache decorator") == [
        "functools",
        "lru_cache",
        "lru",
        "cache",
        "decorator",
    ]


def test_bm25_prefers_rare_matching_terms():
    bm25 = BM25(["the cat sat", "the dog sat", "a cat and a cat"])
    scores = bm25.scores("cat")
    assert scores[1] == 0 and scores[2] > scores[0] > 0
    assert not bm25.scores("unknownword").any()


def _store(local_embeddings, texts):
    store = SKLearnStore(local_embeddings, "local:all-MiniLM-L6-v2")
    docs = [
        Document(page_content=t, metadata={"source": f"http://d/{i}", "heading": ""})
        for i, t in enumerate(texts)
    ]
    store.add_vectors(docs, local_embeddings.encode(texts))
    return store


def test_hybrid_finds_exact_identifiers_that_vectors_blur(local_embeddings):
    texts = [
        "Use OLLAMA_NUM_PARALLEL to decode several requests at the same time.",
        "Concurrency settings decide how many requests an instance serves.",
        "Models stay in memory as long as the keep alive setting says.",
        "Cloud Run bills GPU instances for their whole lifetime.",
    ]
    store = _store(local_embeddings, texts)
    hits = Retriever(store).search("what does OLLAMA_NUM_PARALLEL do", k=2)
    assert hits[0].document.page_content == texts[0]
    assert Retriever(store, mode="bm25").search("keep alive", k=1)[0].document.page_content == texts[2]
    vector_only = Retriever(store, mode="vector").search("billing for GPUs", k=1)
    assert vector_only[0].document.page_content == texts[3] and vector_only[0].similarity > 0.3


def test_duplicates_are_dropped(local_embeddings):
    texts = ["Gemma is an open model.", "Gemma  is an open   model.", "Ollama serves models."]
    store = _store(local_embeddings, texts)
    hits = Retriever(store).search("Gemma open model", k=2)
    kept = [h.document.page_content for h in hits]
    assert len(kept) == 2 and kept[1] == texts[2] and kept[0] in texts[:2]  # one of the two equal chunks
    assert len(Retriever(store, dedupe=False).search("Gemma open model", k=2)) == 2


def test_per_page_caps_the_chunks_of_one_page(local_embeddings):
    store = SKLearnStore(local_embeddings, "local:all-MiniLM-L6-v2")
    pages = ["a", "a", "a", "b"]
    texts = [
        "Gemma runs on a Cloud Run GPU.",
        "A Cloud Run GPU service runs Gemma.",
        "Gemma on the GPU of Cloud Run.",
        "Cloud Run GPUs bill per instance.",
    ]
    meta = [{"url": f"http://d/{p}", "source": f"http://d/{p}"} for p in pages]
    store.add_documents([Document(t, metadata=m) for t, m in zip(texts, meta, strict=True)])

    def urls(retriever: Retriever) -> list[str]:
        return [h.document.metadata["url"] for h in retriever.search("Gemma Cloud Run GPU", k=3)]

    uncapped = urls(Retriever(store))
    assert uncapped == ["http://d/a"] * 3
    capped = urls(Retriever(store, per_page=1))
    assert capped == ["http://d/a", "http://d/b"]  # one chunk a page, then no more pages


def test_history_query_puts_the_last_exchange_before_the_question():
    history = [
        {"role": "user", "content": "How do I sort a list?"},
        {"role": "assistant", "content": "Use sorted()."},
        {"role": "user", "content": "How do I cache a function's results?"},
        {"role": "assistant", "content": "Use functools.lru_cache."},
    ]
    query = history_query("How do I clear it?", history)
    assert query == "How do I cache a function's results?\nUse functools.lru_cache.\nHow do I clear it?"
    assert history_query("Q", []) == "Q"


def test_empty_store_and_empty_query_return_nothing(local_embeddings):
    empty = SKLearnStore(local_embeddings, "local:all-MiniLM-L6-v2")
    assert Retriever(empty).search("anything") == []
    assert Retriever(_store(local_embeddings, ["x"])).search("   ") == []
    assert np.isfinite(Retriever(_store(local_embeddings, ["only one"])).search("one", k=4)[0].score)
