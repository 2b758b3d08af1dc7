"""Each page's second-best chunk similarity as a page signal (rag/retrieval.py's
SECOND_CHUNK_WEIGHT), measured on every manual and each manual's weight chosen
leave-one-manual-out (issue 12, twenty-second round: not taken, it loses a question on Octave and on Vim).

    .venv/bin/python bench/second_chunk_probe.py [--corpora gnuplot cmake ...] [--weights 0 0.125 0.25 0.5]

The twenty-first round measured it on 28 manuals beside the default of then (bench/keyword_probe.py's
`second-w`); this runs the library's own signal on every manual at each weight, beside the default,
which goes without it (`second-0`). On each manual's saved `ours` index (bench/retrieval.py, run it
first; small sites are skipped: score fusion does not run there). Each manual's weight is chosen
on the *other* manuals by the default's rule (bench/retrieval_variants.py). Results:
bench/results/second-chunk-probe.json; a run on some manuals keeps the others' rows.
"""

from __future__ import annotations

from probe_grid import prepared, rows_at, weights_main
from retrieval_variants import MemoEmbeddings


def probe_rows(name: str, embeddings: MemoEmbeddings, weights: list[float]) -> dict[str, dict]:
    found = prepared(name, embeddings, second_chunk_weight=0.0)
    if found is None:
        return {}
    store, first = found
    return rows_at(store, first, name, weights, "second_chunk_weight", "second")


if __name__ == "__main__":
    weights_main("second-chunk-probe", probe_rows, weights=(0.0, 0.125, 0.25, 0.5))
