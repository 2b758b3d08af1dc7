"""BM25 over the chunks, as one sparse matrix product per query.

Built with scikit-learn's CountVectorizer; a query scores every chunk in about a
millisecond, fast enough to sit beside the vector search on every question.
Identifiers stay whole (`lru_cache`, `__slots__`) and are also split into their
parts, so both "lru_cache" and "lru cache" match. With `stem=True` words are
reduced to their Snowball stems (PyStemmer), so "uploads" matches "uploading".
"""

from __future__ import annotations

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
    def __init__(self, texts: list[str], k1: float = 1.2, b: float = 0.75, *, stem: bool = False) -> None:
        self.tokenize = tokenize_stemmed if stem else tokenize
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
