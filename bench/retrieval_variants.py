"""Retrieval ideas we tried and did not make the default, measured on all three manuals.

    .venv/bin/python bench/retrieval_variants.py [--corpora python sqlite git]

Each variant runs on the same saved index (bench/.cache/<corpus>-sections.ragidx,
built by common.corpus_index) with the default hybrid retrieval and follow-ups
searched with the last exchange; only the ranking step differs:
- `default`: rag.retrieval.Retriever as shipped;
- `1 per page`: Retriever(per_page=1), at most one chunk of a page;
- `sentences`: the question's sentences embedded one by one as extra vector
  queries (verbose symptom-style questions dilute one embedding);
- `rocchio`: a second vector query moved toward the top 3 hits (pseudo-relevance
  feedback).
Scores: single-turn recall@1/4/10 and follow-up recall@4 by gold page.
"""

from __future__ import annotations

import argparse
import re

import numpy as np
from common import corpus, corpus_index, write_result

from rag.embeddings.local import LocalEmbeddings
from rag.evaluation import evaluate, load_questions
from rag.retrieval import Retriever, history_query
from rag.store import SKLearnStore

EMBEDDER = "local:all-MiniLM-L6-v2"
RRF_K = 60
DEPTH = 40


def sentences(text: str) -> list[str]:
    return [p.strip() for p in re.split(r"(?<=[.?!])\s+|\n+", text) if len(p.strip()) > 12]


class Fused:
    """The default hybrid fusion, with extra vector queries for the variants."""

    def __init__(self, retriever: Retriever, embeddings: LocalEmbeddings) -> None:
        self.r = retriever
        self.embeddings = embeddings

    def search(self, query: str, variant: str, k: int = 10) -> list[str]:
        fused: dict[int, float] = {}

        def add(rows, weight: float) -> None:
            for rank, row in enumerate(rows):
                fused[row] = fused.get(row, 0.0) + weight / (RRF_K + rank + 1)

        store = self.r.store
        qv = self.r.embed_query(query)
        add([row for row, _ in store.search_vector(qv, DEPTH)], 1.0)
        scores = self.r.bm25().scores(query)
        add([int(i) for i in np.argsort(-scores)[:DEPTH] if scores[i] > 0], self.r.lexical_weight)
        if variant == "sentences" and len(parts := sentences(query)) > 1:
            for vector in np.asarray(self.embeddings.embed_documents(parts), dtype=np.float32):
                add([row for row, _ in store.search_vector(vector, DEPTH)], 1.0 / len(parts))
        elif variant == "rocchio":
            top = [row for row, _ in store.search_vector(qv, 3)]
            moved = qv + 0.5 * store.vectors[top].mean(axis=0)
            add([row for row, _ in store.search_vector(moved / np.linalg.norm(moved), DEPTH)], 1.0)
        ranked = sorted(fused, key=fused.__getitem__, reverse=True)[:k]
        return [store.documents[row].metadata["source"] for row in ranked]


def query(q) -> str:
    return history_query(q.question, q.history)


def measure(store: SKLearnStore, embeddings: LocalEmbeddings, questions) -> dict[str, dict]:
    default, capped = Retriever(store), Retriever(store, per_page=1)
    fused = Fused(default, embeddings)

    def urls(retriever: Retriever, q) -> list[str]:
        return [h.document.metadata["source"] for h in retriever.search(query(q), 10)]

    searches = {
        "default": lambda q: urls(default, q),
        "1 per page": lambda q: urls(capped, q),
        "sentences": lambda q: fused.search(query(q), "sentences"),
        "rocchio": lambda q: fused.search(query(q), "rocchio"),
    }
    out = {}
    for variant, search in searches.items():
        groups = evaluate(questions, search)["groups"]
        single, follow = groups["single"], groups["followup"]
        out[variant] = {
            "single R@1": single["recall@1"],
            "single R@4": single["recall@4"],
            "single R@10": single["recall@10"],
            "follow-up R@4": follow["recall@4"],
        }
    return out


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--corpora", nargs="*", default=["python", "sqlite", "git"])
    args = parser.parse_args()
    embeddings = LocalEmbeddings()
    results: dict[str, dict] = {}
    for name in args.corpora:
        store = SKLearnStore.load(corpus_index(name), embeddings, EMBEDDER)
        results[name] = measure(store, embeddings, load_questions(corpus(name).questions))
        for variant, row in results[name].items():
            print(name, variant, row, flush=True)
    print(f"written to {write_result('retrieval-variants', {'results': results})}")


if __name__ == "__main__":
    main()
