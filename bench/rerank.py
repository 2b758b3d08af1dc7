"""What a query-likelihood reranker would add, and cost, on every manual.

    .venv/bin/python bench/rerank.py [--corpus git sqlite ...] [--depth 20]

Ranks each manual's saved index (bench/retrieval.py's `ours`, so run that first) twice
in the same run: the default retriever, and the same retriever's best `depth` chunks
reordered by the embedded Gemma 3 270M's query likelihood (bench/likelihood.py). Scores as
bench/retrieval.py (single-turn R@1/4/10 and MRR,
follow-up R@4, by gold page); the reranker's own seconds per question are reported apart
from retrieval's. One result file, rewritten after every manual, so a run cut short keeps
what it measured.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time

from common import CACHE, CORPORA, RESULTS, corpus, questions_of, summary_row, write_result
from likelihood import QueryLikelihood

from rag.embeddings.local import LocalEmbeddings
from rag.evaluation import evaluate
from rag.llms.embedded import LlamaPool, model_path
from rag.retrieval import Retriever, history_query
from rag.store import SKLearnStore

EMBEDDER = "local:all-MiniLM-L6-v2"


def summary(report: dict) -> dict:
    return {**summary_row(report), "questions": report["questions"]}


def run_manual(name: str, pool: LlamaPool, depth: int) -> dict:
    store = SKLearnStore.load(CACHE / f"{name}-ours.ragidx", LocalEmbeddings(), EMBEDDER)
    questions = questions_of(corpus(name))
    plain = Retriever(store)
    plain.prepare()
    scorer = QueryLikelihood(pool)
    seconds: list[float] = []

    def timed(q) -> list[str]:
        query = history_query(q.question, q.history)
        started = time.perf_counter()
        hits = plain.search(query, max(10, depth), question=q.question)
        head = hits[:depth]
        scores = scorer.scores(query, [h.document.page_content for h in head])
        order = sorted(range(len(head)), key=lambda i: -scores[i])  # stable: ties keep the fusion's order
        seconds.append(time.perf_counter() - started)
        return [head[i].document.metadata["source"] for i in order] + [
            h.document.metadata["source"] for h in hits[depth:]
        ]

    def urls(q) -> list[str]:
        hits = plain.search(history_query(q.question, q.history), 10, question=q.question)
        return [h.document.metadata["source"] for h in hits]

    default = evaluate(questions, urls)
    ranked = evaluate(questions, timed)
    return {
        "chunks": len(store),
        "default": summary(default),
        "reranked": summary(ranked),
        "seconds per question": {
            "p50": round(statistics.median(seconds), 2),
            "max": round(max(seconds), 2),
        },
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--corpus", nargs="+", default=list(CORPORA), choices=list(CORPORA))
    parser.add_argument("--depth", type=int, default=20, help="chunks reranked per question")
    args = parser.parse_args()
    pool = LlamaPool(model_path(), size=1)
    path = RESULTS / "rerank.json"
    data = json.loads(path.read_text()) if path.exists() else {}
    manuals = dict(data.get("manuals", {})) if data.get("depth") == args.depth else {}
    for name in args.corpus:
        manuals[name] = run_manual(name, pool, args.depth)
        r, d = manuals[name]["reranked"], manuals[name]["default"]
        print(
            f"{name}: R@4 {d['R@4']} -> {r['R@4']}, MRR {d['MRR']} -> {r['MRR']}, "
            f"follow-up {d['follow-up R@4']} -> {r['follow-up R@4']}, "
            f"{manuals[name]['seconds per question']['p50']} s/question",
            flush=True,
        )
        write_result("rerank", {"depth": args.depth, "manuals": manuals})


if __name__ == "__main__":
    main()
