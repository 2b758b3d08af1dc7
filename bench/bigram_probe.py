"""BM25 over word pairs as further lexical evidence, its weight chosen leave-one-manual-out
(issue 12, sixteenth round).

    .venv/bin/python bench/bigram_probe.py [--corpora zsh cmake ...] [--weights 0 0.125 ...]

The default's BM25 scores single (stemmed) words, so "compile commands" in a question matches
a page that says "compile" somewhere and "commands" elsewhere as well as one naming
CMAKE_EXPORT_COMPILE_COMMANDS. Here a second BM25 scores consecutive word pairs (after stop
words are dropped and identifiers split, as the default tokenises) over the same passages, and
joins score fusion as a further lexical signal at each weight (rag/score_fusion.py's
`Signals.more`). On each manual's saved `ours` index (bench/retrieval.py, run it first); each
manual's weight is chosen on the *other* manuals by the rule the default is chosen by
(bench/retrieval_variants.py). Results: bench/results/bigram-probe.json; a run on some
manuals keeps the others' rows.
"""

from __future__ import annotations

from dataclasses import replace
from itertools import pairwise

import numpy as np
from probe_grid import prepared, scored, sharing, weights_main
from retrieval_variants import MemoEmbeddings

from rag.lexical import PassageBM25, tokenize_stemmed
from rag.retrieval import Retriever
from rag.score_fusion import Signals
from rag.store import SKLearnStore, pages_of


def pairs(text: str) -> list[str]:
    """Consecutive stemmed word pairs of the text."""
    words = tokenize_stemmed(text)
    return [f"{a} {b}" for a, b in pairwise(words)]


def pair_index(r: Retriever) -> PassageBM25:
    """Word-pair BM25 over the passages the default's BM25 scores (titles prefixed alike)."""
    docs = r.store.documents
    size = r.passage_size()
    if size is None:
        raise ValueError("a small site: score fusion does not run there")
    title = (lambda d: d.metadata.get("title", "")) if r.title_terms else (lambda d: "")
    pages = [
        (title(docs[rows[0]]), [(row, docs[row].page_content) for row in rows])
        for rows in pages_of(docs).values()
    ]
    return PassageBM25(pages, size, stem=True, tokenizer=pairs)


class PairRetriever(Retriever):
    """The fifteenth round's default (no hub pages: the rows were measured beside it), with
    word-pair BM25 fused in at `weight`."""

    def __init__(self, store: SKLearnStore, pair_bm25: PassageBM25, weight: float) -> None:
        super().__init__(store, hub_page_weight=0.0)
        self.pair_bm25, self.weight = pair_bm25, weight

    def _signals(self, query: str, question: str | None) -> tuple[Signals, list[float], np.ndarray] | None:
        found = super()._signals(query, question)
        if found is None or not self.weight:
            return found
        signals, weights, similarity = found
        extra = self.pair_bm25.row_scores(query, len(similarity))
        return replace(signals, more=((extra, "lexical"),)), [*weights, self.weight], similarity


def pair_rows(name: str, embeddings: MemoEmbeddings, weights: list[float]) -> dict[str, dict]:
    found = prepared(name, embeddings, hub_page_weight=0.0)
    if found is None:
        return {}
    store, first = found
    index = pair_index(first)
    return {f"pairs-{w:g}": scored(sharing(PairRetriever(store, index, w), first), name) for w in weights}


def main() -> None:
    weights_main("bigram-probe", pair_rows)


if __name__ == "__main__":
    main()
