"""Lexical query expansion from the first search's pages (RM3-style pseudo-relevance
feedback on BM25), its weight chosen leave-one-manual-out (issue 12, sixteenth round).

    .venv/bin/python bench/expansion_probe.py [--corpora zsh cmake ...] [--weights 0 0.125 ...]

The default ranks once; the chunks it picks for its best `FEEDBACK` pages are read for the
words they use most (term frequency in the chunk times the manual's inverse document
frequency, each feedback page weighing alike), and the `TERMS` best words the question did
not use are scored with BM25 over the same passages as the default's lexical signal. That
score joins score fusion as a further lexical signal at each weight (rag/score_fusion.py's
`Signals.more`). Vector feedback (bench/retrieval_probes.py `prf`) moved the query's vector;
this adds the words the best pages share, which a page at rank 5-10 may use too.

On each manual's saved `ours` index (bench/retrieval.py, run it first). Each manual's weight
is chosen on the *other* manuals by the rule the default is chosen by
(bench/retrieval_variants.py: fewest R@4 losses to the manual's baselines, then mean R@4,
MRR, follow-up R@4). Results: bench/results/expansion-probe.json; a run on some manuals
keeps the others' rows.
"""

from __future__ import annotations

import argparse
from collections import Counter
from dataclasses import replace

import numpy as np
from common import CORPORA
from probe_grid import FIFTEENTH_ROUND, prepared, run, scored, sharing
from retrieval_variants import MemoEmbeddings

from rag.embeddings.local import LocalEmbeddings
from rag.lexical import PassageBM25
from rag.retrieval import Retriever
from rag.score_fusion import Signals, fuse_pages
from rag.store import SKLearnStore

FEEDBACK = 3  # pages read for feedback
TERMS = 10  # words added


def expansion_terms(lexical: PassageBM25, texts: list[list[str]], query: str, terms: int) -> dict[int, float]:
    """The `terms` words the feedback pages (each a list of chunk texts) weigh most, by
    vocabulary column: each page's term frequencies (as shares of its words) times idf."""
    bm25 = lexical.bm25
    asked = set(bm25.tokenize(query))
    n_docs = bm25.weights.shape[0]
    df = np.diff(bm25.weights.indptr)  # csc: stored values per column, one per passage using it
    weight: Counter[int] = Counter()
    for page in texts:
        counts = Counter(t for text in page for t in bm25.tokenize(text) if t not in asked)
        total = sum(counts.values()) or 1
        for term, count in counts.items():
            column = bm25.vocabulary.get(term)
            if column is not None:
                idf = float(np.log1p((n_docs - df[column] + 0.5) / (df[column] + 0.5)))
                weight[column] += count / total * idf
    return dict(weight.most_common(terms))


def expanded_scores(lexical: PassageBM25, chosen: dict[int, float], rows: int) -> np.ndarray:
    """Each chunk row's best passage score for the weighted expansion words."""
    best = np.zeros(rows, dtype=np.float32)
    if not chosen:
        return best
    columns = list(chosen)
    scores = np.asarray(lexical.bm25.weights[:, columns] @ np.asarray([chosen[c] for c in columns])).ravel()
    known = lexical.owners[:, 0] < rows
    np.maximum.at(best, lexical.owners[known, 0], scores[known].astype(np.float32))
    return best


class ExpansionRetriever(Retriever):
    """The fifteenth round's default (no hub pages: the rows were measured beside it), with the
    expansion words' BM25 score fused in at `weight`."""

    def __init__(
        self, store: SKLearnStore, weight: float, terms: int = TERMS, feedback: int = FEEDBACK
    ) -> None:
        super().__init__(store, **FIFTEENTH_ROUND)
        self.weight, self.terms, self.feedback = weight, terms, feedback

    def _signals(self, query: str, question: str | None) -> tuple[Signals, list[float], np.ndarray] | None:
        found = super()._signals(query, question)
        lexical = self.bm25()
        if found is None or not self.weight or not isinstance(lexical, PassageBM25):
            return found
        signals, weights, similarity = found
        groups = self.page_groups()
        first = fuse_pages(groups, signals, weights, self.feedback, 2)
        docs = self.store.documents
        pages: dict[float, list[str]] = {}
        for row, score in first.items():  # a page's rows share its score, less a hair each
            pages.setdefault(round(score, 6), []).append(docs[row].page_content)
        chosen = expansion_terms(lexical, list(pages.values()), query, self.terms)
        extra = expanded_scores(lexical, chosen, len(similarity))
        return replace(signals, more=((extra, "lexical"),)), [*weights, self.weight], similarity


def label(weight: float, terms: int, feedback: int) -> str:
    """A setting's row name: its weight, and its words and pages where they are not the default's."""
    shape = "" if (terms, feedback) == (TERMS, FEEDBACK) else f"t{terms}-f{feedback}-"
    return f"expand-{shape}{weight:g}"


def expansion_rows(
    name: str, embeddings: MemoEmbeddings, weights: list[float], terms: int, feedback: int
) -> dict[str, dict]:
    found = prepared(name, embeddings, **FIFTEENTH_ROUND)
    if found is None:
        return {}
    store, first = found
    return {
        "expand-0" if not weight else label(weight, terms, feedback): scored(
            sharing(ExpansionRetriever(store, weight, terms, feedback), first), name
        )
        for weight in weights
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--corpora", nargs="*", default=list(CORPORA))
    parser.add_argument("--weights", nargs="*", type=float, default=[0.0, 0.125, 0.25, 0.5])
    parser.add_argument("--terms", type=int, default=TERMS)
    parser.add_argument("--feedback", type=int, default=FEEDBACK)
    args = parser.parse_args()
    embeddings = MemoEmbeddings(LocalEmbeddings())
    rows = lambda manual: expansion_rows(manual, embeddings, args.weights, args.terms, args.feedback)  # noqa: E731
    run("expansion-probe", args.corpora, rows)


if __name__ == "__main__":
    main()
