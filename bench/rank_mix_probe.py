"""Reciprocal-rank evidence beside score fusion (issue 12, 44th round); not in the app.

    .venv/bin/python bench/rank_mix_probe.py [--corpora cython pymongo ...] [--weights 0.25 0.5 ...]

Score fusion (rag/score_fusion.py) sums standardised scores, so a page far ahead in one list
keeps its lead; the notebook's chunks with BM25 and vectors met by plain RRF (k = 60, equal
weights) lead ours on nine of the ten manuals where ours is below a baseline, and on those
questions RRF puts first a page that is well placed in both lists but first in neither
(Cython's `special_methods.html` for an `__add__` question: ours seventh). Here each page
also gets that RRF score over ours' own lists (its rank by its best chunk's similarity and
by its best BM25 passage, 1 / (K + rank) each, none where BM25 did not match), a further
page signal of score fusion at each weight given (`rank-W`), beside the default in the same
run. Each manual's setting is chosen on the *other* manuals by the default's rule
(bench/retrieval_variants.py). Manuals without a saved index (bench/retrieval.py builds it)
or small enough to be fused by rank are skipped. Results: bench/results/rank-mix-probe.json;
a run on some manuals keeps the others' rows.
"""

from __future__ import annotations

import numpy as np
from probe_grid import WithMore, beside_default, weights_main
from retrieval_variants import MemoEmbeddings

from rag.store import SKLearnStore

K = 60  # the usual constant, as the notebook+RRF baseline has it


def page_ranks(best: np.ndarray) -> np.ndarray:
    """Each page's rank (1 first) by its value, ties in page order."""
    ranks = np.empty(len(best), dtype=np.float64)
    ranks[np.argsort(-best, kind="stable")] = np.arange(1, len(best) + 1)
    return ranks


class RankMix(WithMore):
    """The default with each page's RRF score over the vector and BM25 lists fused in at
    `weight` as a page signal."""

    def __init__(self, store: SKLearnStore, weight: float) -> None:
        super().__init__(store, weight, "page", settings={})

    def more(self, query: str, question: str | None, similarity: np.ndarray) -> np.ndarray | None:
        groups = self.page_groups()
        if len(groups.order) != len(similarity):
            return None
        lexical = self.bm25().row_scores(query, len(similarity))
        vector_best = groups.best(similarity.astype(np.float64))
        lexical_best = groups.best(lexical.astype(np.float64))
        rrf = 1 / (K + page_ranks(vector_best))
        rrf += np.where(lexical_best > 0, 1 / (K + page_ranks(lexical_best)), 0.0)
        sizes = np.diff(np.r_[groups.starts, len(groups.order)])
        out = np.empty(len(similarity))
        out[groups.order] = np.repeat(rrf, sizes)
        return out


def rank_rows(name: str, embeddings: MemoEmbeddings, weights: list[float]) -> dict[str, dict]:
    """The manual's row as the default has it and with the RRF signal at each weight, with the
    questions that rank otherwise than the default."""
    return beside_default(name, embeddings, lambda store: {f"rank-{w:g}": RankMix(store, w) for w in weights})


def main() -> None:
    weights_main("rank-mix-probe", rank_rows, weights=(0.25, 0.5, 1.0))


if __name__ == "__main__":
    main()
