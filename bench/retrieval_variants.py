"""Retrieval ideas we tried and did not make the default, measured on all three manuals.

    .venv/bin/python bench/retrieval_variants.py [--corpora python sqlite git]

Each variant runs on the same saved index (bench/.cache/<corpus>-sections.ragidx,
built by common.corpus_index) through rag.retrieval.Retriever, the default hybrid
with follow-ups searched with the last exchange; only what is fused differs:
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


def sentences(text: str) -> list[str]:
    return [p.strip() for p in re.split(r"(?<=[.?!])\s+|\n+", text) if len(p.strip()) > 12]


def sentence_queries(retriever: Retriever, query: str) -> list[tuple[np.ndarray, float]]:
    """Each sentence of a verbose question as its own vector query, sharing one weight."""
    parts = sentences(query)
    if len(parts) < 2:
        return []
    vectors = np.asarray(retriever.store.embeddings.embed_documents(parts), dtype=np.float32)
    return [(v, 1.0 / len(parts)) for v in vectors]


def rocchio_query(retriever: Retriever, query: str) -> list[tuple[np.ndarray, float]]:
    """The query moved toward its top 3 vector hits (pseudo-relevance feedback)."""
    qv = retriever.embed_query(query)
    top = [row for row, _ in retriever.store.search_vector(qv, 3)]
    moved = qv + 0.5 * retriever.store.vectors[top].mean(axis=0)
    return [(moved / np.linalg.norm(moved), 1.0)]


def query(q) -> str:
    return history_query(q.question, q.history)


def measure(store: SKLearnStore, questions) -> dict[str, dict]:
    default, capped = Retriever(store), Retriever(store, per_page=1)

    def urls(retriever: Retriever, q, extra=()) -> list[str]:
        return [h.document.metadata["source"] for h in retriever.search(query(q), 10, extra=extra)]

    searches = {
        "default": lambda q: urls(default, q),
        "1 per page": lambda q: urls(capped, q),
        "sentences": lambda q: urls(default, q, sentence_queries(default, query(q))),
        "rocchio": lambda q: urls(default, q, rocchio_query(default, query(q))),
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
        results[name] = measure(store, load_questions(corpus(name).questions))
        for variant, row in results[name].items():
            print(name, variant, row, flush=True)
    print(f"written to {write_result('retrieval-variants', {'results': results})}")


if __name__ == "__main__":
    main()
