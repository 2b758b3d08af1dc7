"""RAG against the model alone, with the embedded defaults, on 2 cores.

    .venv/bin/python bench/compare.py

1. The Python-docs question set on a full index of the Python 3.11 docs
   (floors: the run completes in under 15 minutes; RAG's answer-key coverage
   is higher than raw's).
2. The sample guide's question set on the bundled guide.
Both run exactly what `RAG_TEMPERATURE=0 python -m rag compare` runs; the wall time
includes loading the model.
"""

from __future__ import annotations

import time

from common import ROOT, corpus, corpus_index, write_result

from rag.compare import run_comparison, summarise
from rag.embeddings.local import LocalEmbeddings
from rag.evaluation import load_questions
from rag.indexing import build_index
from rag.llms import make_target
from rag.loading.fetch import FetchConfig
from rag.loading.loader import WebLoader
from rag.pipeline import make_chains
from rag.retrieval import Retriever
from rag.settings import Settings
from rag.splitting import get_splitter
from rag.store import SKLearnStore


def run(store: SKLearnStore, questions_path) -> dict:
    # Greedy decoding (RAG_TEMPERATURE=0): a rerun gives the same answers, so the
    # difference between RAG and raw is not sampling noise.
    settings = Settings(temperature=0.0)
    started = time.perf_counter()
    rag, raw = make_chains(settings, Retriever(store), make_target("embedded", settings))
    questions = load_questions(questions_path)
    results = list(run_comparison(rag, raw, questions))
    seconds = time.perf_counter() - started
    return {
        "questions": len(results),
        "seconds": round(seconds, 1),
        "summary": summarise(results),
        "answers": [
            {
                "id": r.id,
                "rag": r.rag_answer,
                "raw": r.raw_answer,
                "rag_coverage": r.rag.coverage,
                "raw_coverage": r.raw.coverage,
            }
            for r in results
        ],
    }


def main() -> None:
    embeddings = LocalEmbeddings()
    python = SKLearnStore.load(corpus_index("python"), embeddings, "local:all-MiniLM-L6-v2")
    results = {"python": run(python, corpus("python").questions)}
    print("python:", results["python"]["seconds"], "s", results["python"]["summary"]["all"])
    guide, _ = build_index(
        WebLoader(FetchConfig()),
        embeddings,
        "local:all-MiniLM-L6-v2",
        crawl=(ROOT / "sample_docs" / "index.html").as_uri(),
        splitter=("sections", get_splitter("sections")),
    )
    results["sample-guide"] = run(guide, ROOT / "rag" / "data" / "sample-guide-qa.jsonl")
    print("sample guide:", results["sample-guide"]["seconds"], "s", results["sample-guide"]["summary"]["all"])
    print(f"written to {write_result('compare', results)}")


if __name__ == "__main__":
    main()
