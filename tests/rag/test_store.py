import zipfile

import numpy as np
import pytest
from langchain_core.documents import Document

from rag.errors import EmbedderMismatch, IndexFileError
from rag.store import SKLearnStore, read_index


class Fixed:
    """A deterministic embedder for store tests: bag of letters."""

    def embed_documents(self, texts):
        return [self.embed_query(t) for t in texts]

    def embed_query(self, text):
        vector = np.zeros(26, dtype=np.float32)
        for ch in text.lower():
            if ch.isalpha() and ch.isascii():
                vector[ord(ch) - 97] += 1
        return vector.tolist()


def store_with(texts):
    store = SKLearnStore(Fixed(), "test:letters", "sections")
    store.add_texts(
        texts, [{"url": f"http://d/{i}.html", "source": f"http://d/{i}.html#a"} for i in range(len(texts))]
    )
    store.add_pages((f"http://d/{i}.html", f"Page {i}") for i in range(len(texts)))
    return store


def test_similarity_search_uses_cosine_nearest_neighbours():
    store = store_with(["aaaa", "bbbb", "aabb"])
    hits = store.similarity_search_with_score("aaab", k=2)
    assert [d.page_content for d, _ in hits] == ["aaaa", "aabb"]
    assert 0.9 < hits[0][1] <= 1.0
    assert store.as_retriever(search_kwargs={"k": 1}).invoke("bbb")[0].page_content == "bbbb"


def vector_store(vectors):
    store = SKLearnStore(Fixed(), "test:random", "sections")
    docs = [
        Document(page_content=f"chunk {i}", metadata={"url": f"http://d/{i}.html"})
        for i in range(len(vectors))
    ]
    store.add_vectors(docs, vectors)
    return store


@pytest.mark.parametrize("k", [1, 4, 40, 500])
def test_vector_search_finds_what_sklearn_brute_force_finds_in_its_order(k):
    from sklearn.neighbors import NearestNeighbors

    rng = np.random.default_rng(7)
    vectors = rng.standard_normal((3000, 384)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    store = vector_store(vectors)
    reference = NearestNeighbors(metric="euclidean", algorithm="brute").fit(store.vectors)
    for query in rng.standard_normal((20, 384)).astype(np.float32):
        query /= np.linalg.norm(query)
        distances, rows = reference.kneighbors(query.reshape(1, -1), n_neighbors=min(k, 3000))
        hits = store.search_vector(query, k)
        assert [r for r, _ in hits] == rows[0].tolist()
        np.testing.assert_allclose([s for _, s in hits], 1.0 - distances[0] ** 2 / 2.0, atol=1e-5)


def test_exact_ties_go_to_the_row_stored_first():
    """Copies of one page tie exactly; scikit-learn broke such ties by its thread count."""
    rng = np.random.default_rng(3)
    vectors = rng.standard_normal((50, 8)).astype(np.float32)
    vectors[[5, 17, 41]] = vectors[30]
    store = vector_store(vectors)
    for _ in range(5):
        rows = [r for r, _ in store.search_vector(vectors[30], 4)]
        assert rows[:4] == [5, 17, 30, 41]
    assert store.search_vector(vectors[30], 0) == [] and len(store.search_vector(vectors[30], 99)) == 50
    assert store.search_vector(vectors[30], -1) == []


def test_more_tied_rows_than_the_shortlist_still_go_by_row():
    """80 copies of one chunk among 400: the nearest four are the first four copies stored."""
    rng = np.random.default_rng(11)
    vectors = rng.standard_normal((400, 16)).astype(np.float32)
    copies = np.sort(rng.choice(400, size=80, replace=False))
    vectors[copies] = vectors[copies[0]]
    store = vector_store(vectors)
    assert [r for r, _ in store.search_vector(vectors[copies[0]], 4)] == copies[:4].tolist()


def test_save_and_load_round_trip_with_metadata(tmp_path):
    store = store_with(["alpha", "beta", "gamma"])
    path = store.save(tmp_path / "sub" / "idx.ragidx")
    loaded = SKLearnStore.load(path, Fixed(), "test:letters")
    assert len(loaded) == 3 and loaded.info.page_count == 3
    assert (
        loaded.info.embedder == "test:letters"
        and loaded.info.dims == 26
        and loaded.info.splitter == "sections"
    )
    assert loaded.documents[1].metadata["source"] == "http://d/1.html#a"
    np.testing.assert_allclose(loaded.vectors, store.vectors)
    assert loaded.similarity_search("beta", k=1)[0].page_content == "beta"


def test_loading_with_another_embedder_is_refused_with_a_fix(tmp_path):
    path = store_with(["alpha"]).save(tmp_path / "idx.ragidx")
    with pytest.raises(EmbedderMismatch) as caught:
        SKLearnStore.load(path, Fixed(), "vertex:text-embedding-005")
    assert "test:letters" in caught.value.message and "--embeddings test" in caught.value.fix


def test_a_failed_save_leaves_no_file_behind(tmp_path, monkeypatch):
    store = store_with(["alpha"])
    target = tmp_path / "idx.ragidx"
    monkeypatch.setattr(np, "save", lambda *a, **k: (_ for _ in ()).throw(OSError("disk full")))
    with pytest.raises(OSError):
        store.save(target)
    assert list(tmp_path.iterdir()) == []


def test_a_failed_save_keeps_the_previous_index(tmp_path, monkeypatch):
    target = store_with(["alpha"]).save(tmp_path / "idx.ragidx")
    before = target.read_bytes()
    bigger = store_with(["alpha", "beta"])
    monkeypatch.setattr(
        zipfile.ZipFile, "writestr", lambda *a, **k: (_ for _ in ()).throw(OSError("disk full"))
    )
    with pytest.raises(OSError):
        bigger.save(target)
    assert target.read_bytes() == before and len(list(tmp_path.iterdir())) == 1


def test_damaged_missing_and_foreign_files_are_clear_errors(tmp_path):
    with pytest.raises(IndexFileError, match="No index"):
        read_index(tmp_path / "none.ragidx")
    (tmp_path / "junk.ragidx").write_bytes(b"not a zip")
    with pytest.raises(IndexFileError, match="damaged"):
        read_index(tmp_path / "junk.ragidx")
    with zipfile.ZipFile(tmp_path / "other.ragidx", "w") as zf:
        zf.writestr("index.json", '{"format": "something-else"}')
    with pytest.raises(IndexFileError, match="not an index file"):
        read_index(tmp_path / "other.ragidx")


def test_vectors_of_another_size_are_refused():
    store = store_with(["alpha"])
    with pytest.raises(EmbedderMismatch):
        store.add_vectors([Document(page_content="x")], np.ones((1, 5), dtype=np.float32))
    with pytest.raises(EmbedderMismatch):
        store.search_vector(np.ones(5, dtype=np.float32), 1)


def test_a_page_added_again_under_another_spelling_replaces_its_old_chunks():
    """Pages keep the URL spelling they were given, so the Index page may add "a%20b.html"
    to an index that holds "a b.html": one page, its fresh chunks only."""
    from rag.store import merge_stores

    def store_of(url, text):
        store = SKLearnStore(Fixed(), "test:letters", "sections")
        store.add_texts([text], [{"url": url, "source": url}])
        store.add_pages([(url, "Two words")])
        return store

    base = store_of("http://d/two words.html", "old text")
    merged = merge_stores(base, store_of("http://D/two%20words.html", "new text"))
    assert [d.page_content for d in merged.documents] == ["new text"]
    assert [p["url"] for p in merged.info.pages] == ["http://D/two%20words.html"]
    assert len(base.documents) == 1  # the shared base is not changed
