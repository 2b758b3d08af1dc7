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

from itertools import pairwise

from probe_grid import FIFTEENTH_ROUND, WithMore, prepared, scored, sharing, weights_main
from retrieval_variants import MemoEmbeddings

from rag.lexical import tokenize_stemmed
from rag.retrieval import Lexical, Retriever, lexical_index


def pairs(text: str) -> list[str]:
    """Consecutive stemmed word pairs of the text."""
    words = tokenize_stemmed(text)
    return [f"{a} {b}" for a, b in pairwise(words)]


def pair_index(r: Retriever) -> Lexical:
    """Word-pair BM25 over the passages the default's BM25 scores (titles prefixed alike)."""
    return lexical_index(r.store.documents, True, r.title_terms, r.passage_size(), tokenizer=pairs)


def pair_rows(name: str, embeddings: MemoEmbeddings, weights: list[float]) -> dict[str, dict]:
    found = prepared(name, embeddings, **FIFTEENTH_ROUND)
    if found is None:
        return {}
    store, first = found
    index = pair_index(first)
    # the fifteenth round's default (no hub pages: the rows were measured beside it)
    probe = lambda w: WithMore(store, w, "lexical", index.row_scores)  # noqa: E731
    return {f"pairs-{w:g}": scored(sharing(probe(w), first), name) for w in weights}


def main() -> None:
    weights_main("bigram-probe", pair_rows)


if __name__ == "__main__":
    main()
