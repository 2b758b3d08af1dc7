"""Each page's outline as further evidence, its weight chosen leave-one-manual-out (issue 12):
for every question (fourteenth round: measured, not taken) and, with `--follow-ups`, for
follow-ups only (fifteenth round: the default since, rag/outlines.py).

    .venv/bin/python bench/outline_probe.py [--follow-ups] [--corpora zsh cmake ...] [--weights 0 0.25 ...]

A page's outline is its title, its distinct section headings and the first lines of its first
section, embedded once: what the page is about in the words its author chose for that (a
reference page's name and one-line summary), where the page centroid is pulled towards
whatever the page spends most words on. Its similarity to the query joins score fusion as a
page signal. On each manual's saved `ours` index (bench/retrieval.py, run it first):

- every question: the default without follow-up outlines (`outline-0`; hub pages, as the
  default has them since the sixteenth round) and with the outline for every question at each weight (through
  rag/score_fusion.py's `Signals.more`); each manual's weight is chosen on the *other*
  manuals by the rule the default is chosen by (bench/retrieval_variants.py: fewest R@4
  losses to the manual's baselines from its last bench/retrieval.py run, then mean R@4,
  MRR, follow-up R@4). Results: bench/results/outline-probe.json.
- `--follow-ups`: the default with the outline for follow-ups only at each weight
  (`Retriever(outline_weight=W)`; single-turn rankings do not change); each manual's weight
  chosen on the others by the same rule on follow-up R@4 (fewest follow-up losses to a
  baseline, then mean follow-up R@4). Results: bench/results/outline-followups.json.

A run on some manuals keeps the others' rows.
"""

from __future__ import annotations

import argparse
from dataclasses import replace

import numpy as np
from common import CACHE, CORPORA, corpus, questions_of, summary_row
from probe_grid import follow_up_objective, run, sharing
from retrieval_probes import default_search
from retrieval_variants import EMBEDDER, MemoEmbeddings, objective

from rag.embeddings.local import LocalEmbeddings
from rag.evaluation import evaluate
from rag.outlines import Outlines
from rag.retrieval import Retriever, history_query
from rag.score_fusion import Signals
from rag.store import SKLearnStore


class OutlineRetriever(Retriever):
    """The default without follow-up outlines, with the outline's similarity fused in at
    `weight` for every question."""

    def __init__(self, store: SKLearnStore, outlines: Outlines, weight: float) -> None:
        super().__init__(store, outline_weight=0.0)
        self.every_outline, self.weight = outlines, weight

    def _signals(self, query: str, question: str | None) -> tuple[Signals, list[float], np.ndarray] | None:
        found = super()._signals(query, question)
        if found is None:
            return None
        signals, weights, similarity = found
        scores = self.every_outline.row_scores(self.embed_query(query))
        return replace(signals, more=((scores, "page"),)), [*weights, self.weight], similarity


def outline_scores(
    name: str, embeddings: MemoEmbeddings, weights: list[float], follow_ups: bool
) -> dict[str, dict]:
    """The default at each outline weight on one manual (outlines embedded once):
    for every question, or (`follow_ups`) for follow-ups only; nothing on a small site, where
    chunks are fused by rank and page signals never run. A follow-up's outline evidence is for
    the query with its history, as the vector list's."""
    store = SKLearnStore.load(CACHE / f"{name}-ours.ragidx", embeddings, EMBEDDER)  # type: ignore[arg-type]
    first = Retriever(store)
    if first.page_cap() is None:
        print(name, "is a small site: score fusion does not run there; skipped", flush=True)
        return {}
    first.prepare()
    outlines = first.outlines()  # embedded once: the store keeps them for the other retrievers
    questions = questions_of(corpus(name))
    rows = {}
    for weight in weights:
        probe = (
            Retriever(store, outline_weight=weight)
            if follow_ups
            else OutlineRetriever(store, outlines, weight)
        )
        search = default_search(sharing(probe, first))  # BM25, centroids, hub count built once
        report = evaluate(questions, lambda q, s=search: s(history_query(q.question, q.history), q))
        label = f"{'fu-' if follow_ups else ''}outline-{weight:g}"
        rows[label] = summary_row(report)
        print(name, label, rows[label], flush=True)
    return rows


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--corpora", nargs="*", default=list(CORPORA))
    parser.add_argument("--weights", nargs="*", type=float, default=[0.0, 0.25, 0.5, 0.75, 1.0])
    parser.add_argument("--follow-ups", action="store_true", help="the outline for follow-ups only")
    args = parser.parse_args()
    embeddings = MemoEmbeddings(LocalEmbeddings())
    name = "outline-followups" if args.follow_ups else "outline-probe"
    rule = follow_up_objective if args.follow_ups else objective
    run(name, args.corpora, lambda m: outline_scores(m, embeddings, args.weights, args.follow_ups), rule)


if __name__ == "__main__":
    main()
