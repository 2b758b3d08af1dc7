"""BM25 over the chunks, as one sparse matrix product per query.

Built with scikit-learn's CountVectorizer; a query scores every chunk in about a
millisecond, fast enough to sit beside the vector search on every question.
Identifiers stay whole (`lru_cache`, `__slots__`) and are also split into their
parts, so both "lru_cache" and "lru cache" match. With `stem=True` words are
reduced to their Snowball stems (PyStemmer), so "uploads" matches "uploading".
`PassageBM25` scores even-sized passages of each page instead of its section
chunks, each passage standing for the chunk it overlaps most.
"""

from __future__ import annotations

import bisect
import re
from collections.abc import Callable
from functools import lru_cache

import numpy as np
from scipy import sparse
from sklearn.feature_extraction.text import ENGLISH_STOP_WORDS, CountVectorizer

_WORD = re.compile(r"\w\w+|\w")


def tokenize(text: str) -> list[str]:
    tokens = []
    for word in _WORD.findall(text.lower()):
        if word in ENGLISH_STOP_WORDS:
            continue
        tokens.append(word)
        if "_" in word:
            tokens.extend(p for p in word.split("_") if len(p) > 1 and p not in ENGLISH_STOP_WORDS)
    return tokens


@lru_cache(maxsize=1)
def _stemmer() -> Callable[[str], str]:
    import Stemmer  # PyStemmer: Snowball in C

    return lru_cache(maxsize=200_000)(Stemmer.Stemmer("english").stemWord)


def tokenize_stemmed(text: str) -> list[str]:
    stem = _stemmer()
    return [stem(token) for token in tokenize(text)]


class BM25:
    def __init__(
        self,
        texts: list[str],
        k1: float = 1.2,
        b: float = 0.75,
        *,
        stem: bool = False,
        tokenizer: Callable[[str], list[str]] | None = None,  # a seam: bench/ measures other terms
    ) -> None:
        self.tokenize = tokenizer or (tokenize_stemmed if stem else tokenize)
        self.vectorizer = CountVectorizer(tokenizer=self.tokenize, lowercase=False, token_pattern=None)
        self.vocabulary: dict[str, int] = {}
        try:
            counts = sparse.csr_matrix(self.vectorizer.fit_transform(texts), dtype=np.float32)
        except ValueError:  # no indexable word at all (only stop words, or no texts)
            self.weights = sparse.csc_matrix((len(texts), 0), dtype=np.float32)
            return
        self.vocabulary = self.vectorizer.vocabulary_
        n_docs = counts.shape[0]
        lengths = np.asarray(counts.sum(axis=1)).ravel()
        avg = float(lengths.mean()) if n_docs else 1.0
        df = np.bincount(counts.indices, minlength=counts.shape[1])
        idf = np.log1p((n_docs - df + 0.5) / (df + 0.5)).astype(np.float32)
        # tf * (k1 + 1) / (tf + k1 * (1 - b + b * len / avg)), row by row on the stored values
        norm = k1 * (1 - b + b * lengths / max(avg, 1e-9))
        rows = np.repeat(np.arange(n_docs), np.diff(counts.indptr))
        tf = counts.data
        counts.data = tf * (k1 + 1) / (tf + norm[rows]) * idf[counts.indices]
        self.weights = counts.tocsc()

    def scores(self, query: str) -> np.ndarray:
        """BM25 score of every chunk for `query` (zeros when no term is known)."""
        vocab = self.vocabulary
        terms = [vocab[t] for t in set(self.tokenize(query)) if t in vocab]
        if not terms:
            return np.zeros(self.weights.shape[0], dtype=np.float32)
        return np.asarray(self.weights[:, terms].sum(axis=1)).ravel()


class ChunkBM25:
    """BM25 over the chunks themselves: a row per chunk, best first."""

    def __init__(
        self, texts: list[str], *, stem: bool, tokenizer: Callable[[str], list[str]] | None = None
    ) -> None:
        self.bm25 = BM25(texts, stem=stem, tokenizer=tokenizer)

    def ranked(self, query: str, depth: int) -> list[int]:
        scores = self.bm25.scores(query)
        return [int(row) for row in np.argsort(-scores)[:depth] if scores[row] > 0]

    def row_scores(self, query: str, rows: int) -> np.ndarray:
        """Each of the store's `rows` chunks' BM25 score (0 for chunks added since)."""
        scores = self.bm25.scores(query)[:rows]
        return np.pad(scores, (0, rows - len(scores)))


class PassageBM25:
    """BM25 over fixed-size passages of each page (its chunks joined in order), each passage
    standing for the chunk it overlaps most. Section chunks range from a line to a screenful,
    and BM25's length normalisation then favours short sections that repeat a query word;
    passages of one size score a page's text evenly (measured: docs/decisions.md)."""

    def __init__(
        self,
        pages: list[tuple[str, list[tuple[int, str]]]],
        size: int,
        *,
        stem: bool,
        tokenizer: Callable[[str], list[str]] | None = None,
    ) -> None:
        texts: list[str] = []
        owners: list[tuple[int, int]] = []  # (chunk row, page) of each passage
        for page, (title, chunks) in enumerate(pages):
            text, starts = _joined(chunks)
            for start, end in passages(text, size, size // 8):
                texts.append(f"{title}\n{text[start:end]}" if title else text[start:end])
                owners.append((_most_overlap(chunks, starts, len(text), start, end), page))
        self.bm25 = BM25(texts, stem=stem, tokenizer=tokenizer)
        self.owners = np.asarray(owners, dtype=np.int64).reshape(-1, 2)

    def ranked(self, query: str, depth: int) -> list[int]:
        """Chunk rows by their best passage's score, each row once, from the best `depth`
        pages (a page ranks where its best passage does). In numpy: it runs on every search."""
        scores = self.bm25.scores(query)
        matched = np.flatnonzero(scores > 0)
        order = matched[np.argsort(-scores[matched], kind="stable")]
        rows, pages = self.owners[order, 0], self.owners[order, 1]
        _, first = np.unique(pages, return_index=True)  # where each page first appears
        if len(first) > depth:
            rows = rows[: np.sort(first)[depth]]  # up to the (depth + 1)-th page
        _, once = np.unique(rows, return_index=True)
        return [int(row) for row in rows[np.sort(once)]]

    def row_scores(self, query: str, rows: int) -> np.ndarray:
        """Each of the store's `rows` chunks scored by the best passage standing for it
        (0 for a chunk that no passage stands for)."""
        best = np.zeros(rows, dtype=np.float32)
        known = self.owners[:, 0] < rows  # a store grown since: its new rows are not scored here
        np.maximum.at(best, self.owners[known, 0], self.bm25.scores(query)[known])
        return best


def passages(text: str, size: int, overlap: int) -> list[tuple[int, int]]:
    """(start, end) spans of about `size` characters, `overlap` shared with the previous one,
    ending at a space where one falls in the span's second half."""
    spans: list[tuple[int, int]] = []
    start = 0
    while start < len(text):
        end = min(len(text), start + size)
        if end < len(text):
            space = text.rfind(" ", start + size // 2, end)
            end = space if space > 0 else end
        spans.append((start, end))
        if end >= len(text):
            break
        start = max(end - overlap, start + 1)
    return spans


def _joined(chunks: list[tuple[int, str]]) -> tuple[str, list[int]]:
    """The chunks' texts joined by newlines, and where each one starts."""
    starts, offset = [], 0
    for _, text in chunks:
        starts.append(offset)
        offset += len(text) + 1
    return "\n".join(text for _, text in chunks), starts


def _most_overlap(chunks: list[tuple[int, str]], starts: list[int], length: int, start: int, end: int) -> int:
    """The row of the chunk sharing the most characters with [start, end)."""
    first, last = bisect.bisect_right(starts, start) - 1, bisect.bisect_left(starts, end)
    bounds = [*starts[1:], length + 1]
    best = max(range(first, last), key=lambda i: min(end, bounds[i]) - max(start, starts[i]))
    return chunks[best][0]
