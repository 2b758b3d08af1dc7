"""Weighing each search's vector and BM25 evidence by how clearly it leads (issue 12, 44th
round); not in the app.

    .venv/bin/python bench/confidence_probe.py --like-private [--weights 0.5 1 ...]

Score fusion sums the vector and BM25 signals at fixed weights (1 and 0.5), whatever the
question. Some questions name what only one page says (an identifier, an error's words) and
BM25 has one page far ahead while the vector list is flat; others are worded unlike the
manual and BM25's leaders are chance matches. Here each search measures each signal's lead,
its first page's standardised score less its fifth's (`scaled_parts`' page z-scores), and
multiplies the signal's weight by (its lead / the mean of both leads) ** P, so the signal
with the clearer leader weighs more (`lead-P`), beside the default in the same run. Measured
first on the manuals like the private one (`--like-private`, bench/common.like_private).
Each manual's setting is chosen on the *other* manuals by the default's rule. Results:
bench/results/confidence-probe.json; a run on some manuals keeps the others' rows.
"""

from __future__ import annotations

import numpy as np
from probe_grid import beside_default, weights_main
from retrieval_variants import MemoEmbeddings

from rag.retrieval import Retriever
from rag.score_fusion import Signals, scaled_parts
from rag.store import SKLearnStore

PLACE = 5  # the lead is over the page at this place


def lead(page_z: np.ndarray) -> float:
    """The first page's z-score less the PLACE-th's (0 with fewer pages)."""
    if len(page_z) < PLACE:
        return 0.0
    top = np.sort(page_z)[::-1]
    return float(top[0] - top[PLACE - 1])


class Confident(Retriever):
    """The default with the vector and BM25 weights scaled by their leads to the power `power`."""

    def __init__(self, store: SKLearnStore, power: float) -> None:
        super().__init__(store)
        self.power = power

    def _signals(self, query: str, question: str | None) -> tuple[Signals, list[float], np.ndarray] | None:
        found = super()._signals(query, question)
        if found is None:
            return found
        signals, weights, similarity = found
        parts = scaled_parts(self.page_groups(), signals, weights)
        if parts[0] is None or parts[1] is None:
            return found
        leads = [lead(parts[0].page_z), lead(parts[1].page_z)]
        mean = sum(leads) / 2
        if mean <= 0 or min(leads) <= 0:
            return found
        scaled = [w * (x / mean) ** self.power for w, x in zip(weights[:2], leads, strict=True)]
        return signals, [*scaled, *weights[2:]], similarity


def confidence_rows(name: str, embeddings: MemoEmbeddings, powers: list[float]) -> dict[str, dict]:
    """The manual's row as the default has it and at each power, with the questions that rank
    otherwise than the default."""
    return beside_default(
        name, embeddings, lambda store: {f"lead-{p:g}": Confident(store, p) for p in powers}
    )


def main() -> None:
    weights_main("confidence-probe", confidence_rows, weights=(0.5, 1.0))


if __name__ == "__main__":
    main()
