"""What retrieval adds to the embedded model's answers (issue 10 §5), per context policy.

    .venv/bin/python bench/answers.py

Two question sets with answer keys and unanswerable questions: the sample guide's
(on the bundled guide) and one written for the Python docs' functools page (on
that page and its neighbours, served over HTTP). For each, in the same run and
with greedy decoding: the model alone, RAG with the retrieved chunks in the prompt (the
chain before evidence), RAG with the best two sentences (rag/evidence.py) in the
prompt, and RAG answering with the best 1, 2 or 3 sentences quoted. A threshold
only decides whether to answer at all, so every threshold is scored from the same
answers: below it, the answer is "I don't know".
The policy is chosen on the sample guide; functools is the check.
Floors: RAG answer-key coverage >= 0.5 on both sets, 0 invented answers on the
unanswerable questions. Writes bench/results/answers.json.
"""

from __future__ import annotations

import time

from common import ROOT, corpus, serve, write_result

from rag.chains import RagChain, RawChain
from rag.compare import keys_stated, says_dont_know
from rag.embeddings.local import LocalEmbeddings
from rag.evaluation import load_questions
from rag.evidence import Policy, rank
from rag.indexing import build_index
from rag.llms import make_target
from rag.llms.base import GenerationOptions
from rag.loading.fetch import FetchConfig
from rag.loading.loader import WebLoader
from rag.prompts import NOT_FOUND
from rag.retrieval import Retriever
from rag.settings import Settings
from rag.splitting import get_splitter

FUNCTOOLS_PAGES = ["functools", "itertools", "operator", "collections", "contextlib", "copy"]
QUOTED = (1, 2, 3)
THRESHOLDS = (0.0, 0.3, 0.4, 0.5, 0.6)


def index(urls: list[str] | None = None, crawl: str | None = None):
    store, _ = build_index(
        WebLoader(FetchConfig()),
        LocalEmbeddings(),
        "local:all-MiniLM-L6-v2",
        urls=urls or [],
        crawl=crawl,
        splitter=("sections", get_splitter("sections")),
    )
    return store


def score(text: str, keys: list[str]) -> dict:
    stated = keys_stated(text, keys)
    return {
        "coverage": sum(stated) / len(stated) if stated else None,
        "abstained": says_dont_know(text),
        "text": text,
    }


def run_set(store, questions_path) -> dict:
    target = make_target("embedded", Settings())
    options = GenerationOptions(max_tokens=64, temperature=0.0)
    retriever = Retriever(store)
    chains = {
        "raw": RawChain(target, options=options),
        "chunks": RagChain(target, retriever, options=options, evidence=False),
        "prompt-2": RagChain(target, retriever, options=options, evidence=Policy(2, 0.0, quote=False)),
        **{
            f"quote-{n}": RagChain(target, retriever, options=options, evidence=Policy(n, 0.0))
            for n in QUOTED
        },
    }
    rows = []
    for q in load_questions(questions_path):
        # the chunks the chain reads (RagChain reads passages), so the gate is the app's own
        # (its threshold, 0.4, was chosen on the guide when the chain read search's chunks)
        best = rank(q.question, [h.document for h in retriever.passages(q.question, 4)])
        row = {"id": q.id, "kind": q.kind, "best_score": round(best[0].score, 3) if best else 0.0}
        for name, chain in chains.items():
            answer = chain.invoke(q.question)
            row[name] = score(answer.text, q.answer_keys) | {"seconds": round(answer.timings.total, 2)}
        rows.append(row)
    return {"questions": len(rows), "rows": rows, "summary": summarise(rows, list(chains))}


def summarise(rows: list[dict], names: list[str]) -> dict:
    def rates(pick) -> dict:
        answerable = [pick(r) for r in rows if r["kind"] != "unanswerable"]
        unanswerable = [pick(r) for r in rows if r["kind"] == "unanswerable"]
        return {
            "coverage": round(sum(a["coverage"] or 0 for a in answerable) / len(answerable), 3),
            "invented": sum(1 for a in unanswerable if not a["abstained"]),
            "unanswerable": len(unanswerable),
        }

    out = {name: rates(lambda r, name=name: r[name]) for name in ("raw", "chunks")}
    for name in names[2:]:
        for t in THRESHOLDS:
            out[f"{name} threshold-{t}"] = rates(lambda r, name=name, t=t: gated(r, name, t))
    return out


def gated(row: dict, name: str, threshold: float) -> dict:
    if row["best_score"] < threshold:
        return score(NOT_FOUND, [])
    return row[name]


def main() -> None:
    started = time.perf_counter()
    guide = index(crawl=(ROOT / "sample_docs" / "index.html").as_uri())
    results = {"guide": run_set(guide, ROOT / "rag" / "data" / "sample-guide-qa.jsonl")}
    with serve(corpus("python")) as site:
        urls = [f"{site.url}/library/{name}.html" for name in FUNCTOOLS_PAGES]
        results["functools"] = run_set(index(urls=urls), ROOT / "rag" / "data" / "python-functools-qa.jsonl")
    results["seconds"] = round(time.perf_counter() - started, 1)
    for name in ("guide", "functools"):
        for policy, summary in results[name]["summary"].items():
            print(f"{name:10} {policy:28} {summary}")
    print(f"written to {write_result('answers', results)}")


if __name__ == "__main__":
    main()
