"""What the leave-one-manual-out probes share: scoring a retriever on a manual's questions,
and a run over manuals that keeps the other manuals' rows and picks each manual's setting on
the others by the default's rule (bench/retrieval_variants.py)."""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable, Mapping
from dataclasses import replace
from typing import Any

import numpy as np
from common import CACHE, CORPORA, RESULTS, corpus, like_private, questions_of, summary_row, write_result
from langchain_core.embeddings import Embeddings
from retrieval import ours_scores
from retrieval_variants import EMBEDDER, MemoEmbeddings, baselines, leave_one_out, objective

from rag.embeddings.local import LocalEmbeddings
from rag.evaluation import KS
from rag.retrieval import Retriever
from rag.score_fusion import Kind, Signals
from rag.store import SKLearnStore

# The fifteenth round's default, which the sixteenth round's probes were measured beside:
# no hub pages, follow-up outlines at 0.75 (the seventeenth re-chose it with hub pages: 0.5).
FIFTEENTH_ROUND: dict[str, Any] = {"hub_page_weight": 0.0, "outline_weight": 0.75}
Rule = Callable[[dict[str, dict], list[str], dict | None], tuple]


def ranked_row(retriever: Retriever, name: str) -> tuple[dict, dict[str, int | None]]:
    """The retriever's row on the manual's questions, searched as the chat searches them and
    scored as bench/retrieval.py scores ours, and each question's rank."""
    report = ours_scores(retriever.store, questions_of(corpus(name)), max(KS), retriever)
    return summary_row(report), {q["id"]: q["rank"] for q in report["questions"]}


def scored(retriever: Retriever, name: str) -> dict[str, float]:
    """The retriever's row alone (`ranked_row`'s)."""
    return ranked_row(retriever, name)[0]


def run(
    result: str, corpora: list[str], rows_of: Callable[[str], dict[str, dict]], rule: Rule = objective
) -> None:
    """Score each manual's settings (`rows_of(manual)`: a row a setting), keep the saved rows of
    manuals not run, and write each manual's setting chosen on the others by `rule`, and the
    best on all, to bench/results/<result>.json."""
    saved = RESULTS / f"{result}.json"
    grid: dict[str, dict[str, dict]] = json.loads(saved.read_text())["rows"] if saved.exists() else {}
    for manual in corpora:
        for label, row in rows_of(manual).items():
            grid.setdefault(label, {})[manual] = row
            print(manual, label, row, flush=True)
    manuals = [m for m in CORPORA if all(m in rows for rows in grid.values())]
    partial = sorted({m for rows in grid.values() for m in rows} - set(manuals))
    if partial:  # a run with other settings than the saved one's
        print("left out, not scored at every setting:", ", ".join(partial), flush=True)
    base = baselines(manuals)
    held = leave_one_out(grid, manuals, base, rule)
    best = max(grid, key=lambda label: rule(grid[label], manuals, base))
    for held_out, row in held.items():
        row["follow-up losses"] = follow_up_losses(grid[row["setting"]], held_out, base)
    print("best on all:", best, "held out:", {m: (h["setting"], h["R@4"]) for m, h in held.items()})
    data = {"manuals": manuals, "rows": grid, "best": best, "leave-one-out": held, "baselines": base}
    write_result(result, data)


def prepared(name: str, embeddings: Embeddings, **settings: Any) -> tuple[SKLearnStore, Retriever] | None:
    """The manual's saved `ours` index and a retriever with `settings`, prepared; None where
    no index is saved (bench/retrieval.py builds it) and on a small site, where chunks are
    fused by rank and score-fusion signals never run."""
    path = CACHE / f"{name}-ours.ragidx"
    if not path.exists():
        print(name, "has no saved index: run bench/retrieval.py first; skipped", flush=True)
        return None
    store = SKLearnStore.load(path, embeddings, EMBEDDER)
    first = Retriever(store, **settings)
    if first.page_cap() is None:
        print(name, "is a small site: score fusion does not run there; skipped", flush=True)
        return None
    first.prepare()
    return store, first


def beside_default(
    name: str, embeddings: Embeddings, variants: Callable[[SKLearnStore], dict[str, Retriever]]
) -> dict[str, dict]:
    """The manual's row as the default has it and with each of `variants(store)` (a retriever
    a label, sharing the default's parts), each naming the questions that rank otherwise than
    the default; none where `prepared` skips the manual."""
    found = prepared(name, embeddings)
    if found is None:
        return {}
    store, first = found
    row, base = ranked_row(first, name)
    rows = {"default": {**row, "moved": {}}}
    for label, retriever in variants(store).items():
        row, ranks = ranked_row(sharing(retriever, first), name)
        rows[label] = {**row, "moved": {q: r for q, r in ranks.items() if r != base[q]}}
    return rows


def moved_back(ranked: list[tuple[int, float]], back: set[int], penalty: float) -> list[tuple[int, float]]:
    """`ranked` (rows best first, with their scores) with the rows in `back` after the others
    (`penalty` 0; each part in its order) or their scores less `penalty`."""
    if not penalty:
        return sorted(ranked, key=lambda item: item[0] in back)
    moved = [(row, score - penalty * (row in back)) for row, score in ranked]
    return sorted(moved, key=lambda item: -item[1])


def sharing(probe: Retriever, first: Retriever) -> Retriever:
    """The probe with the parts the first retriever built (BM25, centroids, hub pages)."""
    hubs = first.hub_pages() if first.hub_page_weight and probe.hub_page_weight else None
    probe.adopt(first.bm25(), first.hubness(), first.centroids(), hubs)
    return probe


def rows_at(
    store: SKLearnStore, first: Retriever, name: str, weights: list[float], setting: str, label: str
) -> dict[str, dict]:
    """The manual's row at each weight of one Retriever setting (`label-W`), the others as
    `first` has them; weight 0 is `first` itself (the default, without it)."""
    rows = {}
    for weight in weights:
        retriever = sharing(Retriever(store, **{setting: weight}), first) if weight else first
        rows[f"{label}-{weight:g}"] = scored(retriever, name)
    return rows


def weights_main(
    result: str,
    rows_of: Callable[[str, Any, list[float]], dict[str, dict]],
    rule: Rule = objective,
    weights: tuple[float, ...] = (0.0, 0.125, 0.25, 0.5),
) -> None:
    """A probe's command line: `--corpora` (or `--like-private`: common.like_private, the set
    to measure a probe on first) and `--weights`, then `run` with `rows_of(manual, embeddings,
    weights)`."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--corpora", nargs="*", default=list(CORPORA))
    parser.add_argument("--like-private", action="store_true", help="the manuals like issue 12's private one")
    parser.add_argument("--weights", nargs="*", type=float, default=list(weights))
    args = parser.parse_args()
    corpora = like_private() if args.like_private else args.corpora
    embeddings = MemoEmbeddings(LocalEmbeddings())
    run(result, corpora, lambda manual: rows_of(manual, embeddings, args.weights), rule)


def follow_up_losses(scores: dict[str, dict], manual: str, base: dict | None) -> int:
    """How many of the manual's baselines a setting's follow-up R@4 falls below."""
    theirs = (base or {}).get(manual, {}).values()
    return sum(scores[manual]["follow-up R@4"] < t[2] - 1e-9 for t in theirs)


def follow_up_objective(scores: dict[str, dict], manuals: list[str], base: dict | None = None) -> tuple:
    """The default's rule on what a follow-up-only change moves: fewest follow-up R@4 losses
    to a baseline, then the highest mean follow-up R@4."""
    mean = sum(scores[m]["follow-up R@4"] for m in manuals) / len(manuals)
    return (-sum(follow_up_losses(scores, m, base) for m in manuals), round(mean, 6))


class WithMore(Retriever):
    """The fifteenth round's default (FIFTEENTH_ROUND; or `settings`), with one further signal
    of `kind` fused in at `weight`: `values(query, rows)` gives it for each of the store's
    `rows` chunks, or a subclass overrides `more`."""

    def __init__(
        self,
        store: SKLearnStore,
        weight: float,
        kind: Kind,
        values: Callable[[str, int], np.ndarray] | None = None,
        settings: Mapping[str, Any] = FIFTEENTH_ROUND,
    ) -> None:
        super().__init__(store, **settings)
        self.weight, self.kind, self.values = weight, kind, values

    def more(self, query: str, question: str | None, similarity: np.ndarray) -> np.ndarray | None:
        """The further signal for each chunk row; None to leave it out of this search."""
        return None if self.values is None else self.values(query, len(similarity))

    def _signals(self, query: str, question: str | None) -> tuple[Signals, list[float], np.ndarray] | None:
        found = super()._signals(query, question)
        if found is None or not self.weight:
            return found
        signals, weights, similarity = found
        extra = self.more(query, question, similarity)
        if extra is None:
            return found
        return replace(signals, more=((extra, self.kind),)), [*weights, self.weight], similarity
