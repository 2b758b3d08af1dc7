"""The vector store: scikit-learn nearest neighbours behind LangChain's VectorStore.

It does what the notebook's `SKLearnVectorStore` does (brute-force nearest
neighbours with `sklearn.neighbors.NearestNeighbors`, cosine similarity) on top of the maintained
`langchain-core` interface, and adds what a workshop needs: one index file with
its metadata (which embedder built it, splitter, sources, counts), written
atomically so a failed save never leaves a corrupt file, and a refusal to query
with an embedder other than the one that built it.
"""

from __future__ import annotations

import io
import json
import os
import tempfile
import threading
import time
import uuid
import zipfile
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from langchain_core.documents import Document
from langchain_core.embeddings import Embeddings
from langchain_core.vectorstores import VectorStore
from sklearn.neighbors import NearestNeighbors

from .embeddings.cache import embed_array
from .errors import EmbedderMismatch, IndexFileError

FORMAT = "workshop-rag-index"
VERSION = 1


@dataclass
class IndexInfo:
    embedder: str
    splitter: str = ""
    dims: int = 0
    chunks: int = 0
    pages: list[dict[str, str]] = field(default_factory=list)  # [{"url", "title"}]
    created: float = field(default_factory=time.time)

    @property
    def page_count(self) -> int:
        return len(self.pages)


class SKLearnStore(VectorStore):
    """Chunks, their float32 unit vectors, and a lazily fitted NearestNeighbors."""

    def __init__(self, embedding: Embeddings, embedder_id: str, splitter: str = "") -> None:
        self._embedding = embedding
        self.info = IndexInfo(embedder=embedder_id, splitter=splitter)
        self.documents: list[Document] = []
        self.ids: list[str] = []
        self._vectors = np.zeros((0, 0), dtype=np.float32)
        self._pending: list[np.ndarray] = []
        self._nn: NearestNeighbors | None = None
        self._lock = threading.RLock()

    @property
    def embeddings(self) -> Embeddings:
        return self._embedding

    @property
    def vectors(self) -> np.ndarray:
        with self._lock:
            if self._pending:
                parts = [self._vectors, *self._pending] if len(self._vectors) else self._pending
                self._vectors = np.vstack(parts).astype(np.float32, copy=False)
                self._pending = []
            return self._vectors

    def __len__(self) -> int:
        return len(self.documents)

    # Adding -----------------------------------------------------------------

    def add_vectors(self, docs: Sequence[Document], vectors: np.ndarray) -> list[str]:
        """Add chunks whose vectors are already computed (the indexing pipeline's path)."""
        if len(docs) != len(vectors):
            raise ValueError("one vector per document")
        if not len(docs):
            return []
        vectors = _unit(np.asarray(vectors, dtype=np.float32))
        with self._lock:
            if self.info.dims and vectors.shape[1] != self.info.dims:
                raise EmbedderMismatch(
                    f"These vectors have {vectors.shape[1]} dimensions; the index has {self.info.dims}.",
                    "Build a new index with this embedder.",
                )
            self.info.dims = int(vectors.shape[1])
            ids = [str(uuid.uuid4()) for _ in docs]
            self.documents.extend(docs)
            self.ids.extend(ids)
            self._pending.append(vectors)
            self.info.chunks = len(self.documents)
            self._nn = None
            return ids

    def add_pages(self, pages: Iterable[tuple[str, str]]) -> None:
        known = {p["url"] for p in self.info.pages}
        for url, title in pages:
            if url not in known:
                self.info.pages.append({"url": url, "title": title})
                known.add(url)

    def add_texts(
        self, texts: Iterable[str], metadatas: list[dict] | None = None, **kwargs: Any
    ) -> list[str]:
        texts = list(texts)
        metadatas = metadatas or [{} for _ in texts]
        docs = [Document(page_content=t, metadata=m) for t, m in zip(texts, metadatas, strict=True)]
        return self.add_vectors(docs, embed_array(self._embedding, texts))

    @classmethod
    def from_texts(
        cls,
        texts: list[str],
        embedding: Embeddings,
        metadatas: list[dict] | None = None,
        *,
        embedder_id: str = "unknown",
        **kwargs: Any,
    ) -> SKLearnStore:
        store = cls(embedding, embedder_id)
        store.add_texts(texts, metadatas)
        return store

    # Searching --------------------------------------------------------------

    def _neighbors(self) -> NearestNeighbors:
        with self._lock:
            if self._nn is None:
                # Vectors are unit length, so Euclidean order is cosine order; sklearn's
                # "cosine" metric re-normalises the whole matrix on every query (4x slower).
                self._nn = NearestNeighbors(metric="euclidean", algorithm="brute")
                self._nn.fit(self.vectors)
            return self._nn

    def search_vector(self, vector: np.ndarray, k: int) -> list[tuple[int, float]]:
        """(row, cosine similarity) of the k nearest chunks."""
        if not self.documents:
            return []
        k = min(k, len(self.documents))
        query = _unit(np.asarray(vector, dtype=np.float32).reshape(1, -1))
        if query.shape[1] != self.info.dims:
            raise EmbedderMismatch(
                f"The query vector has {query.shape[1]} dimensions; the index has {self.info.dims}.",
                f"Query this index with the embedder that built it ({self.info.embedder}).",
            )
        distances, rows = self._neighbors().kneighbors(query, n_neighbors=k)
        return [(int(r), float(1.0 - d * d / 2.0)) for r, d in zip(rows[0], distances[0], strict=True)]

    def similarity_search_with_score(
        self, query: str, k: int = 4, **kwargs: Any
    ) -> list[tuple[Document, float]]:
        vector = np.asarray(self._embedding.embed_query(query), dtype=np.float32)
        return [(self.documents[r], s) for r, s in self.search_vector(vector, k)]

    def similarity_search(self, query: str, k: int = 4, **kwargs: Any) -> list[Document]:
        return [doc for doc, _ in self.similarity_search_with_score(query, k)]

    def _select_relevance_score_fn(self):  # cosine similarity is already in [-1, 1]
        return lambda score: (score + 1.0) / 2.0

    # Files ------------------------------------------------------------------

    def save(self, path: str | os.PathLike) -> Path:
        """Write the index atomically: a temp file beside the target, then a rename."""
        target = Path(path)
        target.parent.mkdir(parents=True, exist_ok=True)
        payload = {
            "format": FORMAT,
            "version": VERSION,
            "info": asdict(self.info),
        }
        docs = [
            {"id": i, "text": d.page_content, "metadata": d.metadata}
            for i, d in zip(self.ids, self.documents, strict=True)
        ]
        buffer = io.BytesIO()
        np.save(buffer, self.vectors, allow_pickle=False)
        fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
        try:
            with os.fdopen(fd, "wb") as raw, zipfile.ZipFile(raw, "w", zipfile.ZIP_DEFLATED) as zf:
                zf.writestr("index.json", json.dumps(payload, indent=1))
                zf.writestr("documents.json", json.dumps(docs, ensure_ascii=False))
                zf.writestr("vectors.npy", buffer.getvalue())
            os.replace(tmp, target)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        return target

    @classmethod
    def load(cls, path: str | os.PathLike, embedding: Embeddings, embedder_id: str) -> SKLearnStore:
        """Open an index file; refuse it if another embedder built it."""
        info, docs, ids, vectors = read_index(path)
        if info.embedder != embedder_id:
            raise EmbedderMismatch(
                f"{Path(path).name} was built with {info.embedder}, not {embedder_id}.",
                f"Query it with the same embedder (--embeddings {info.embedder.split(':')[0]}), "
                "or rebuild the index.",
            )
        store = cls(embedding, embedder_id, info.splitter)
        store.info = info
        store.documents, store.ids = docs, ids
        store._vectors = vectors
        return store


def read_index(path: str | os.PathLike) -> tuple[IndexInfo, list[Document], list[str], np.ndarray]:
    """Read and check an index file without needing its embedder (for `info` and the UI)."""
    target = Path(path)
    try:
        with zipfile.ZipFile(target) as zf:
            payload = json.loads(zf.read("index.json"))
            if payload.get("format") != FORMAT:
                raise IndexFileError(f"{target.name} is not an index file.")
            if payload.get("version") != VERSION:
                raise IndexFileError(
                    f"{target.name} is index format {payload.get('version')}; this app reads {VERSION}.",
                    "Rebuild it with `python -m rag index`.",
                )
            raw_docs = json.loads(zf.read("documents.json"))
            vectors = np.load(io.BytesIO(zf.read("vectors.npy")), allow_pickle=False)
    except FileNotFoundError:
        raise IndexFileError(
            f"No index at {target}.", "Build one with `python -m rag index ... --save PATH`."
        ) from None
    except (zipfile.BadZipFile, KeyError, ValueError, OSError) as exc:
        raise IndexFileError(
            f"{target.name} is damaged or not an index file ({type(exc).__name__}).",
            "Rebuild it with `python -m rag index`.",
        ) from None
    info = IndexInfo(**payload["info"])
    docs = [Document(page_content=d["text"], metadata=d["metadata"]) for d in raw_docs]
    if len(docs) != len(vectors):
        raise IndexFileError(f"{target.name} is inconsistent ({len(docs)} chunks, {len(vectors)} vectors).")
    return info, docs, [d["id"] for d in raw_docs], vectors.astype(np.float32, copy=False)


def _unit(vectors: np.ndarray) -> np.ndarray:
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    norms[norms == 0] = 1.0
    return vectors / norms
