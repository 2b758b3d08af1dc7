"""A process-wide embedding cache, and the numpy path through any provider.

Two sessions indexing the same pages with the same embedder and splitter make
the same chunks; the second one finds every vector here and embeds nothing.
Keys are (embedder id, sha256 of the text); values are float32 rows; the cache
is bounded (least recently used entries go first).
"""

from __future__ import annotations

import hashlib
import threading
from collections import OrderedDict

import numpy as np
from langchain_core.embeddings import Embeddings


def embed_array(embeddings: Embeddings, texts: list[str]) -> np.ndarray:
    """Vectors as a float32 array; providers with a numpy fast path (`encode`) use it."""
    if not texts:
        return np.zeros((0, 0), dtype=np.float32)
    encode = getattr(embeddings, "encode", None)
    if callable(encode):
        return np.asarray(encode(texts), dtype=np.float32)
    return np.asarray(embeddings.embed_documents(texts), dtype=np.float32)


class VectorCache:
    def __init__(self, max_entries: int = 200_000) -> None:
        self.max_entries = max_entries
        self._data: OrderedDict[tuple[str, bytes], np.ndarray] = OrderedDict()
        self._lock = threading.Lock()

    def get_many(self, embedder: str, keys: list[bytes]) -> list[np.ndarray | None]:
        with self._lock:
            found = []
            for key in keys:
                vector = self._data.get((embedder, key))
                if vector is not None:
                    self._data.move_to_end((embedder, key))
                found.append(vector)
            return found

    def put_many(self, embedder: str, keys: list[bytes], vectors: np.ndarray) -> None:
        with self._lock:
            for key, vector in zip(keys, vectors, strict=True):
                self._data[(embedder, key)] = vector
                self._data.move_to_end((embedder, key))
            while len(self._data) > self.max_entries:
                self._data.popitem(last=False)

    def __len__(self) -> int:
        return len(self._data)

    def clear(self) -> None:
        with self._lock:
            self._data.clear()


def digest(text: str) -> bytes:
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).digest()


SHARED = VectorCache()


class CachedEmbeddings(Embeddings):
    """Wraps any provider; only texts not seen before reach it."""

    def __init__(self, inner: Embeddings, embedder_id: str, cache: VectorCache = SHARED) -> None:
        self.inner = inner
        self.embedder_id = embedder_id
        self.cache = cache
        self.embedded = 0  # texts this wrapper actually sent to the provider
        self.reused = 0

    def encode(self, texts: list[str]) -> np.ndarray:
        keys = [digest(t) for t in texts]
        found = self.cache.get_many(self.embedder_id, keys)
        missing = [i for i, v in enumerate(found) if v is None]
        if missing:
            fresh = embed_array(self.inner, [texts[i] for i in missing])
            self.cache.put_many(self.embedder_id, [keys[i] for i in missing], fresh)
            for i, vector in zip(missing, fresh, strict=True):
                found[i] = vector
        self.embedded += len(missing)
        self.reused += len(texts) - len(missing)
        return np.stack(found) if found else np.zeros((0, 0), dtype=np.float32)  # type: ignore[arg-type]

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        return self.encode(texts).tolist()

    def embed_query(self, text: str) -> list[float]:
        return self.inner.embed_query(text)
