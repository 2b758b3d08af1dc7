"""Fusing the retriever's signals by their scores, page by page.

Reciprocal rank fusion gives a first place the same credit however far ahead it is: a page
whose BM25 score stands far above every other page's counts no more than one that leads by
a hair. Here each page gets its best chunk's vector similarity, its best BM25 passage's
score and its centroid's similarity (and, for a follow-up searched with its history, the
bare question's own similarity, twelfth round, and its page outline's, fifteenth; and
for every search, how often the page comes up for the manual's own headings, sixteenth; an
option measured and not taken: its second-best chunk's similarity, twenty-second); each
signal is standardised over the manual's pages (z-scores: pages without a BM25 match stay
at 0) and they are summed with the retriever's weights. Measured against RRF on every
manual in bench/ (docs/decisions.md, issue 12, tenth round).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal, NamedTuple

import numpy as np

# "chunk" evidence also picks a page's chunks, "lexical" counts only where BM25 matched,
# "page" is the same for every chunk of a page
Kind = Literal["chunk", "lexical", "page"]


@dataclass(frozen=True)
class Signals:
    """Per chunk row: the vector similarity, the BM25 score and the page centroid's similarity;
    for a follow-up searched with its history, also the latest question's own similarity and
    its page outline's; the page's hub signal and its second-best chunk's similarity; then any
    further signals a benchmark measures beside them (`more`, each with its kind)."""

    vector: np.ndarray
    lexical: np.ndarray
    centroid: np.ndarray
    question: np.ndarray | None = None
    outline: np.ndarray | None = None  # a follow-up's: its page outline's similarity (rag/outlines.py)
    hub_pages: np.ndarray | None = None  # -log(1 + how often the page comes up), rag/hub_pages.py
    second_chunk: np.ndarray | None = None  # the page's second-best chunk similarity (runner_up)
    more: tuple[tuple[np.ndarray, Kind], ...] = ()  # further evidence a benchmark measures

    def parts(self) -> list[tuple[np.ndarray, Kind]]:
        """Each signal with its kind, in the order their weights are given."""
        found: list[tuple[np.ndarray, Kind]] = [
            (self.vector, "chunk"),
            (self.lexical, "lexical"),
            (self.centroid, "page"),
        ]
        optional: list[tuple[np.ndarray | None, Kind]] = [
            (self.question, "chunk"),
            (self.outline, "page"),
            (self.hub_pages, "page"),
            (self.second_chunk, "page"),
        ]
        given = [(values, kind) for values, kind in optional if values is not None]
        return [*found, *given, *self.more]


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


def runner_up(groups: PageGroups, values: np.ndarray) -> np.ndarray:
    """For each row, its page's second-largest distinct value; NaN (no evidence) for a page
    with none. Distinct: copies merged into one page hold each chunk twice, and a page of one
    chunk must not count its best again. A chunk whose value is not finite (a broken embedding)
    is no evidence, as in `_scaled`: the page's other chunks still count."""
    if not len(values):
        return np.zeros(0)
    ordered = values[groups.order].astype(np.float64)
    ordered = np.where(np.isfinite(ordered), ordered, -np.inf)
    sizes = np.diff(np.r_[groups.starts, len(ordered)])
    best = np.repeat(np.maximum.reduceat(ordered, groups.starts), sizes)
    second = np.maximum.reduceat(np.where(ordered < best, ordered, -np.inf), groups.starts)
    out = np.empty(len(values))
    out[groups.order] = np.repeat(np.where(np.isfinite(second), second, np.nan), sizes)
    return out


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


class Scaled(NamedTuple):
    """One signal with its weight, standardised over the pages."""

    values: np.ndarray  # per chunk row
    kind: Kind
    weight: float
    page_z: np.ndarray  # per page: its best value, standardised (0 where it has none)
    mean: float
    std: float


class Fused(NamedTuple):
    """The chosen chunks of the best pages: each with its page's fused score (a hair less for
    each next chunk of the page), and each with its own chunk-level evidence, on the same
    scale across pages (what picks a page's chunks; what a model's passages are ranked by).
    `evidence` may hold more chunks of a page than `scores` offers (`fuse`'s `read_rows`)."""

    scores: dict[int, float]
    evidence: dict[int, float]


def fuse(
    groups: PageGroups,
    signals: Signals,
    weights: Sequence[float],
    depth: int,
    rows_per_page: int = ROWS_PER_PAGE,
    read_rows: int = 0,
) -> Fused:
    """The `depth` best pages, each as its chunks with the best chunk-level evidence of their
    own (standardised alike), scored by the page's fused score and, a hair below it, each
    next chunk. `weights` go with `signals.parts()` in order, one for each. The evidence of
    up to `read_rows` chunks a page is kept when that is more than `rows_per_page`, and only
    `rows_per_page` are scored, so what reads more chunks ranks the same pages."""
    used = [part for part in scaled_parts(groups, signals, weights) if part is not None]
    fused = np.zeros(len(groups.starts))
    for part in used:
        fused += part.weight * part.page_z
    by_row = [part for part in used if part.kind != "page"]
    chosen: dict[int, float] = {}
    evidence: dict[int, float] = {}
    for page in np.argsort(-fused, kind="stable")[:depth]:
        rows = groups.rows(int(page))
        own = np.zeros(len(rows))
        for part in by_row:
            own += part.weight * _row_z(part, rows)
        for place, best in enumerate(np.argsort(-own, kind="stable")[: max(rows_per_page, read_rows)]):
            row = int(rows[int(best)])
            if place < rows_per_page:
                chosen[row] = float(fused[page]) - 1e-9 * place
            evidence[row] = float(own[int(best)])
    return Fused(chosen, evidence)


def fuse_pages(
    groups: PageGroups,
    signals: Signals,
    weights: Sequence[float],
    depth: int,
    rows_per_page: int = ROWS_PER_PAGE,
) -> dict[int, float]:
    """`fuse`'s chosen chunks with their pages' scores."""
    return fuse(groups, signals, weights, depth, rows_per_page).scores


def scaled_parts(groups: PageGroups, signals: Signals, weights: Sequence[float]) -> list[Scaled | None]:
    """Each of `signals.parts()` with its weight (one each, in order), standardised over the
    pages; None for a signal at weight 0 or with no finite value (a broken embedding): 0 times
    its -inf would be NaN, and -inf on every row would hide the others' choice."""
    parts = signals.parts()
    if len(weights) != len(parts):  # a weight left over would fall to the wrong signal
        raise ValueError(f"{len(parts)} signals and {len(weights)} weights")
    given = zip(parts, weights, strict=True)
    return [_scaled(groups, values, kind, weight) for (values, kind), weight in given]


def _scaled(groups: PageGroups, values: np.ndarray, kind: Kind, weight: float) -> Scaled | None:
    """The signal standardised over the pages by each page's best value; None when it is
    at weight 0 or no value of it is finite."""
    finite_rows = np.isfinite(values)
    if not weight or not finite_rows.any():
        return None
    # a chunk whose vector is not finite (a broken embedding) counts as no evidence, not NaN
    best = groups.best(np.where(finite_rows, values, -np.inf).astype(np.float64))
    finite = np.isfinite(best)
    best = np.where(finite, best, 0.0)
    mask = finite & (best > 0) if kind == "lexical" else finite
    mean, std = standardise(best, mask)
    return Scaled(values, kind, weight, np.where(mask, (best - mean) / std, 0.0), mean, std)


def _row_z(part: Scaled, rows: np.ndarray) -> np.ndarray:
    """A chunk-level signal's evidence for each chunk of a page, on its page scale (BM25
    only where it matched; a broken chunk last)."""
    values = part.values[rows]
    if part.kind == "lexical":
        return np.where(values > 0, (values - part.mean) / part.std, 0.0)
    return np.nan_to_num((values - part.mean) / part.std, nan=-np.inf)
