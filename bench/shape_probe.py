"""The shape of the fused signals, chosen leave-one-manual-out (issue 12, forty-second round).

    .venv/bin/python bench/shape_probe.py [--corpora pook swipl ...] [--weights 0.5 0.75 ...]

Score fusion (rag/score_fusion.py) sums each signal's z-score over the pages, so a signal's
shape decides how far a leader leads: BM25's scores have a long tail (one page far ahead of
every other), the vector similarities hardly any. On each manual's saved `ours` index
(bench/retrieval.py, run it first) the manual's questions scored as the benchmark scores
them, in the same run, with:
- `default`: the signals as the retriever has them;
- `bm25-pow-P`: each chunk's BM25 score raised to the power P before it is standardised
  (P < 1 shortens the tail: a page far ahead by its words leads by less);
- `vec-exp-T`: each chunk's vector similarity to the query as exp(T * similarity) (a page near
  the question leads pages a little less near by more; a follow-up's bare question as it is).
Each manual's setting is chosen on the *other* manuals by the default's rule
(bench/retrieval_variants.py, against the baselines of each manual's last result file).
Each row also names the questions whose rank differs from the default's. Manuals without a
saved index or small enough to be fused by rank are skipped. Results:
bench/results/shape-probe.json; a run on some manuals keeps the others' rows.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np
from probe_grid import beside_default, weights_main
from retrieval_variants import MemoEmbeddings

from rag.retrieval import Retriever
from rag.score_fusion import Signals
from rag.store import SKLearnStore

SHAPES = (0.5, 0.75, -10.0, -20.0, -30.0, -40.0)  # a power of BM25; negative: minus T for vec-exp-T


class Shaped(Retriever):
    """The default with one signal's shape changed where a search fuses by score."""

    def __init__(self, store: SKLearnStore, shape: float) -> None:
        super().__init__(store)
        self.shape = shape

    def _signals(self, query: str, question: str | None) -> tuple[Signals, list[float], np.ndarray] | None:
        found = super()._signals(query, question)
        if found is None:
            return None
        signals, weights, similarity = found
        if self.shape > 0:
            lexical = np.where(signals.lexical > 0, np.power(np.maximum(signals.lexical, 0), self.shape), 0)
            return replace(signals, lexical=lexical), weights, similarity
        return replace(signals, vector=np.exp(-self.shape * signals.vector)), weights, similarity


def label(shape: float) -> str:
    return f"bm25-pow-{shape:g}" if shape > 0 else f"vec-exp-{-shape:g}"


def shape_rows(name: str, embeddings: MemoEmbeddings, shapes: list[float]) -> dict[str, dict]:
    """The manual's row as the default has it and at each shape, with the questions that rank
    otherwise than the default."""
    return beside_default(name, embeddings, lambda store: {label(x): Shaped(store, x) for x in shapes})


def main() -> None:
    weights_main("shape-probe", shape_rows, weights=SHAPES)


if __name__ == "__main__":
    main()
