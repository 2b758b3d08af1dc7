"""The weight of a follow-up's bare question, chosen again leave-one-manual-out (issue 12,
eighteenth round).

    .venv/bin/python bench/question_probe.py [--corpora gettext flex ...] [--weights 0.5 1 ...]

A follow-up is searched with its history and, beside it, its bare question's vector
evidence at `question_weight` (rag/retrieval.py `QUESTION_WEIGHT`, chosen in the twelfth
round on the manuals of that time). On each manual's saved `ours` index (bench/retrieval.py,
run it first) the default is scored with the bare question at each weight; single-turn
questions do not use it. Each manual's weight is chosen on the *other* manuals by the rule
follow-up-only changes are chosen by (fewest follow-up R@4 losses to a baseline, then mean
follow-up R@4; bench/probe_grid.py). Results: bench/results/question-probe.json; a run on
some manuals keeps the others' rows.
"""

from __future__ import annotations

from probe_grid import follow_up_objective, prepared, scored, sharing, weights_main
from retrieval_variants import MemoEmbeddings

from rag.retrieval import Retriever


def probe_rows(name: str, embeddings: MemoEmbeddings, weights: list[float]) -> dict[str, dict]:
    found = prepared(name, embeddings)  # today's default
    if found is None:
        return {}
    store, first = found
    return {
        f"question-{w:g}": scored(sharing(Retriever(store, question_weight=w), first), name) for w in weights
    }


if __name__ == "__main__":
    weights_main("question-probe", probe_rows, follow_up_objective, (0.5, 0.75, 1.0, 1.5))
