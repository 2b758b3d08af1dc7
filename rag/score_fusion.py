"""Fusing the retriever's three signals by their scores, page by page.

Reciprocal rank fusion gives a first place the same credit however far ahead it is: a page
whose BM25 score stands far above every other page's counts no more than one that leads by
a hair. Here each page gets its best chunk's vector similarity, its best BM25 passage's
score and its centroid's similarity; each signal is standardised over the manual's pages
(z-scores: pages without a BM25 match stay at 0) and the three are summed with the
retriever's weights. Measured against RRF on every manual in bench/ (docs/decisions.md,
issue 12, tenth round).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Signals:
    """Per chunk row: the vector similarity, the BM25 score and the page centroid's similarity."""

    vector: np.ndarray
    lexical: np.ndarray
    centroid: np.ndarray


@dataclass(frozen=True)
class PageGroups:
    """The store's rows grouped by page (copies of a page in one group), for per-page maxima."""

    order: np.ndarray  # rows, grouped by page
    starts: np.ndarray  # where each page's rows begin in `order`

    @classmethod
    def of(cls, keys: Sequence[str]) -> PageGroups:
        codes: dict[str, int] = {}
        page = np.array([codes.setdefault(key, len(codes)) for key in keys], dtype=np.int64)
        order = np.argsort(page, kind="stable")
        starts = np.flatnonzero(np.r_[True, np.diff(page[order]) != 0]) if len(order) else order
        return cls(order, starts.astype(np.int64))

    def best(self, values: np.ndarray) -> np.ndarray:
        """Each page's largest value."""
        return np.maximum.reduceat(values[self.order], self.starts)

    def rows(self, page: int) -> np.ndarray:
        end = self.starts[page + 1] if page + 1 < len(self.starts) else len(self.order)
        return self.order[self.starts[page] : end]


def standardise(values: np.ndarray, mask: np.ndarray) -> tuple[float, float]:
    """Mean and standard deviation over the masked values. When they do not differ (one
    BM25 match, or several with one score) each counts one deviation above the mean, as a
    clear leader would, not its raw score."""
    seen = values[mask]
    if not len(seen):
        return (0.0, 1.0)
    spread = float(seen.std())
    return (float(seen.mean()), spread) if spread > 0 else (float(seen.mean()) - 1.0, 1.0)


# Chunks offered for each page, best first, at least: a page whose best chunk repeats another
# page's text (a copy not merged) still finds its next chunk (the retriever asks for its
# per-page cap plus two when that is more).
ROWS_PER_PAGE = 3


def fuse_pages(
    groups: PageGroups,
    signals: Signals,
    weights: tuple[float, float, float],
    depth: int,
    rows_per_page: int = ROWS_PER_PAGE,
) -> dict[int, float]:
    """The `depth` best pages, each as its chunks with the best evidence of their own (vector
    and BM25, standardised alike), scored by the page's fused score and, a hair below it,
    each next chunk."""
    # a chunk whose vector is not finite (a broken embedding) counts as no evidence, not NaN
    raw = (signals.vector, signals.lexical, signals.centroid)
    pages = [groups.best(np.where(np.isfinite(s), s, -np.inf).astype(np.float64)) for s in raw]
    finite = [np.isfinite(p) for p in pages]
    pages = [np.where(ok, p, 0.0) for p, ok in zip(pages, finite, strict=True)]
    masks = [finite[0], finite[1] & (pages[1] > 0), finite[2]]
    scales = [standardise(p, m) for p, m in zip(pages, masks, strict=True)]
    fused = np.zeros(len(pages[0]))
    for page_values, mask, (mean, std), weight in zip(pages, masks, scales, weights, strict=True):
        fused += weight * np.where(mask, (page_values - mean) / std, 0.0)
    chosen: dict[int, float] = {}
    for page in np.argsort(-fused, kind="stable")[:depth]:
        rows = groups.rows(int(page))
        own = weights[0] * np.nan_to_num((signals.vector[rows] - scales[0][0]) / scales[0][1], nan=-np.inf)
        lexical = signals.lexical[rows]
        own += weights[1] * np.where(lexical > 0, (lexical - scales[1][0]) / scales[1][1], 0.0)
        for place, best in enumerate(np.argsort(-own, kind="stable")[:rows_per_page]):
            chosen[int(rows[int(best)])] = float(fused[page]) - 1e-9 * place
    return chosen
