"""Finding the chunks that answer a question.

Hybrid by default: the vector store's nearest neighbours and BM25's best
matches are fused by reciprocal rank (RRF), then near-duplicate chunks are
dropped. `mode="vector"` is the notebook's plain vector search. The modes and
constants were chosen with `bench/retrieval.py` (docs/benchmarks.md).

Follow-up questions need the conversation: `search_query()` turns the history
and the latest question into what is searched, either by concatenating the
recent user turns (`history`) or with the model's rewrite (see chains.py).
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np
from langchain_core.documents import Document

from .lexical import BM25
from .store import SKLearnStore

Mode = Literal["hybrid", "vector", "bm25"]
# `per_page` caps the chunks of one page in a result. One page per hit finds one more
# gold page per question set on the big manuals, but on a small site it pushes out the
# chunk that holds the answer (docs/benchmarks.md), so the default is no cap.
PER_PAGE: int | None = None


@dataclass
class Hit:
    document: Document
    score: float  # the fused score used for ranking
    similarity: float  # cosine similarity to the query (0 when only BM25 found it)


class Retriever:
    def __init__(
        self,
        store: SKLearnStore,
        *,
        mode: Mode = "hybrid",
        fetch_k: int = 40,
        rrf_k: int = 60,
        lexical_weight: float = 0.5,
        dedupe: bool = True,
        per_page: int | None = PER_PAGE,
    ) -> None:
        self.store = store
        self.mode = mode
        self.fetch_k = fetch_k
        self.rrf_k = rrf_k
        self.lexical_weight = lexical_weight
        self.dedupe = dedupe
        self.per_page = per_page
        self._bm25: BM25 | None = None
        self._bm25_size = -1
        self._lock = threading.Lock()

    def bm25(self) -> BM25:
        with self._lock:
            if self._bm25 is None or self._bm25_size != len(self.store):
                self._bm25 = BM25([d.page_content for d in self.store.documents])
                self._bm25_size = len(self.store)
            return self._bm25

    def embed_query(self, query: str) -> np.ndarray:
        return np.asarray(self.store.embeddings.embed_query(query), dtype=np.float32)

    def search(
        self, query: str, k: int = 4, *, extra: Sequence[tuple[np.ndarray, float]] = ()
    ) -> list[Hit]:
        """The k best chunks for `query`. `extra` adds vector queries to the fusion, each
        with its weight (bench/retrieval_variants.py measures such ideas)."""
        if not len(self.store) or not query.strip():
            return []
        depth = max(self.fetch_k, k * 4)
        fused: dict[int, float] = {}
        similarity: dict[int, float] = {}

        def add(rows: Sequence[int], weight: float) -> None:
            for rank, row in enumerate(rows):
                fused[row] = fused.get(row, 0.0) + weight / (self.rrf_k + rank + 1)

        if self.mode in ("hybrid", "vector"):
            nearest = self.store.search_vector(self.embed_query(query), depth)
            similarity.update(nearest)
            add([row for row, _ in nearest], 1.0)
            for vector, weight in extra:
                add([row for row, _ in self.store.search_vector(vector, depth)], weight)
        if self.mode in ("hybrid", "bm25"):
            scores = self.bm25().scores(query)
            add([int(row) for row in np.argsort(-scores)[:depth] if scores[row] > 0], self.lexical_weight)
        return self._pick(fused, similarity, k)

    def _pick(self, fused: dict[int, float], similarity: dict[int, float], k: int) -> list[Hit]:
        """The k best fused rows, without duplicate chunks and within the per-page cap."""
        hits: list[Hit] = []
        seen_text: set[str] = set()
        per_page: dict[str, int] = {}
        for row in sorted(fused, key=fused.__getitem__, reverse=True):
            doc = self.store.documents[row]
            key = _body(doc)
            if self.dedupe and key in seen_text:
                continue
            page = doc.metadata.get("url", "")
            if self.per_page is not None and per_page.get(page, 0) >= self.per_page:
                continue
            per_page[page] = per_page.get(page, 0) + 1
            seen_text.add(key)
            hits.append(Hit(doc, fused[row], similarity.get(row, 0.0)))
            if len(hits) == k:
                break
        return hits


def _body(doc: Document) -> str:
    """The chunk's text without its heading line, whitespace-folded: equal bodies are duplicates."""
    text = doc.page_content
    heading = doc.metadata.get("heading")
    if heading and text.startswith(heading):
        text = text[len(heading) :]
    return " ".join(text.split()).lower()


def history_query(question: str, history: list[dict[str, str]], turns: int = 1) -> str:
    """The latest question after the last `turns` exchanges (question and answer): the
    answer names what "it" or "that" refers to (see docs/benchmarks.md)."""
    previous = [m["content"] for m in history[-2 * turns :] if m.get("content")]
    return "\n".join([*previous, question]) if previous else question
