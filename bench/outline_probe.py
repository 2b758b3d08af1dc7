"""Each page's outline as further evidence, its weight chosen leave-one-manual-out; not in
the app (issue 12, fourteenth round: measured, not taken).

    .venv/bin/python bench/outline_probe.py [--corpora zsh cmake ...] [--weights 0 0.25 0.5 ...]

A page's outline is its title, its distinct section headings and the first lines of its first
section, embedded once: what the page is about in the words its author chose for that (a
reference page's name and one-line summary), where the page centroid is pulled towards
whatever the page spends most words on. Its similarity to the query joins score fusion as a
page signal (rag/score_fusion.py's `Signals.more`). On each manual's saved `ours` index
(bench/retrieval.py, run it first) the default is scored with the outline at each weight;
weight 0 is the default. Then, for each manual, the weight best on the *other* manuals by
the rule the default is chosen by (bench/retrieval_variants.py: fewest R@4 losses to the
manual's baselines from its last bench/retrieval.py run, then mean R@4, MRR, follow-up R@4),
and what it scores on the manual held out. A run on some manuals keeps the others' rows.
Results: bench/results/outline-probe.json.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Sequence
from dataclasses import replace

import numpy as np
from common import CACHE, CORPORA, RESULTS, corpus, questions_of, summary_row, write_result
from langchain_core.documents import Document
from retrieval_probes import default_search
from retrieval_variants import EMBEDDER, MemoEmbeddings, baselines, leave_one_out, objective

from rag.embeddings.cache import embed_array
from rag.embeddings.local import LocalEmbeddings
from rag.evaluation import evaluate
from rag.retrieval import Retriever, history_query, pages_of
from rag.score_fusion import Signals
from rag.store import SKLearnStore

# MiniLM reads 256 word pieces and cuts the rest: the title and up to HEADING_CHARS of
# headings come first, so a long heading list cuts into the lead, not the other way round
LEAD_CHARS = 300
HEADING_CHARS = 400


def outline_text(documents: Sequence[Document], rows: Sequence[int]) -> str:
    """A page's title, its distinct section headings in order, and the start of its first
    section (without that section's heading line)."""
    first = documents[rows[0]]
    headings: list[str] = []
    for row in rows:
        heading = (documents[row].metadata.get("heading") or "").split(" › ")[-1].strip()
        if heading and heading not in headings:
            headings.append(heading)
    body = first.page_content
    path = first.metadata.get("heading")
    if path and body.startswith(path):
        body = body[len(path) :]
    lead = " ".join(body.split())[:LEAD_CHARS]
    title = first.metadata.get("title", "")
    return "\n".join(part for part in (title, "; ".join(headings)[:HEADING_CHARS], lead) if part)


class OutlineRetriever(Retriever):
    """The default with the page outline's similarity fused in at `weight`."""

    def __init__(
        self, store: SKLearnStore, outlines: np.ndarray, page_of_row: np.ndarray, weight: float
    ) -> None:
        super().__init__(store)
        self.outlines, self.page_of_row, self.weight = outlines, page_of_row, weight

    def _signals(self, query: str, question: str | None) -> tuple[Signals, list[float], np.ndarray] | None:
        found = super()._signals(query, question)
        if found is None:
            return None
        signals, weights, similarity = found
        scores = (self.outlines @ self.embed_query(query))[self.page_of_row].astype(np.float32)
        return replace(signals, more=((scores, "page"),)), [*weights, self.weight], similarity


def outlines_of(store: SKLearnStore, embeddings: MemoEmbeddings) -> np.ndarray:
    """Every page's outline vector (unit length), pages in store order: the order of the
    retriever's `Centroids`, whose `page_of_row` maps each chunk to its page."""
    docs = store.documents
    texts = [outline_text(docs, rows) for rows in pages_of(docs).values()]
    vectors = embed_array(embeddings, texts)  # type: ignore[arg-type]
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    return (vectors / np.where(norms > 0, norms, 1.0)).astype(np.float32)


def outline_scores(name: str, embeddings: MemoEmbeddings, weights: list[float]) -> dict[str, dict]:
    """The default at each outline weight on one manual (outlines embedded once, memoised);
    nothing on a small site, where chunks are fused by rank and page signals never run. A
    follow-up's outline evidence is for the query with its history, as the vector list's."""
    store = SKLearnStore.load(CACHE / f"{name}-ours.ragidx", embeddings, EMBEDDER)  # type: ignore[arg-type]
    first = Retriever(store)
    if first.page_cap() is None:
        print(name, "is a small site: score fusion does not run there; skipped", flush=True)
        return {}
    first.prepare()
    outlines, page_of_row = outlines_of(store, embeddings), first.centroids().page_of_row
    questions = questions_of(corpus(name))
    rows = {}
    for weight in weights:
        probe = OutlineRetriever(store, outlines, page_of_row, weight)
        probe.adopt(first.bm25(), first.hubness(), first.centroids())
        search = default_search(probe)
        report = evaluate(questions, lambda q, s=search: s(history_query(q.question, q.history), q))
        rows[f"outline-{weight:g}"] = summary_row(report)
        print(name, f"outline-{weight:g}", rows[f"outline-{weight:g}"], flush=True)
    return rows


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--corpora", nargs="*", default=list(CORPORA))
    parser.add_argument("--weights", nargs="*", type=float, default=[0.0, 0.25, 0.5, 0.75, 1.0])
    args = parser.parse_args()
    embeddings = MemoEmbeddings(LocalEmbeddings())
    saved = RESULTS / "outline-probe.json"
    grid: dict[str, dict[str, dict]] = json.loads(saved.read_text())["rows"] if saved.exists() else {}
    for name in args.corpora:
        for label, row in outline_scores(name, embeddings, args.weights).items():
            grid.setdefault(label, {})[name] = row
    manuals = [m for m in CORPORA if all(m in rows for rows in grid.values())]
    partial = sorted({m for rows in grid.values() for m in rows} - set(manuals))
    if partial:  # a run with other weights than the saved one's
        print("left out, not scored at every weight:", ", ".join(partial), flush=True)
    base = baselines(manuals)
    held = leave_one_out(grid, manuals, base)
    best = max(grid, key=lambda label: objective(grid[label], manuals, base))
    print("best on all:", best, "held out:", {m: (h["setting"], h["R@4"]) for m, h in held.items()})
    print(f"{len(manuals)} manuals", flush=True)
    write_result("outline-probe", {"manuals": manuals, "rows": grid, "best": best, "leave-one-out": held})


if __name__ == "__main__":
    main()
