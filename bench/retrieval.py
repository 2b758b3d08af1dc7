"""Retrieval quality: our pipeline against the notebook's, on real documentation.

    .venv/bin/python bench/retrieval.py --corpus python     # the tuning set
    .venv/bin/python bench/retrieval.py --corpus sqlite     # held out: never tuned on

Serves the whole manual on loopback and indexes every page as a web page, twice
in the same run:
- baseline: the notebook's exact pipeline — WebBaseLoader, CharacterTextSplitter
  (800/100), SKLearnVectorStore (langchain-community), same embedder, top-k by
  vector similarity, the question searched as it is;
- ours: rag/'s loader and splitter configurations, each retrieved by vector
  search and by the hybrid (vector + BM25) retriever, and follow-ups searched
  three ways (question only, with the history, rewritten by the embedded model);
  and the hybrid with at most one chunk per page (`Retriever(per_page=1)`).
Scores: recall@1/4/10 and MRR by gold page (evaluation.py). Vectors are cached
on disk (bench/.cache) so reruns only embed new chunks.
"""

from __future__ import annotations

import argparse
import time

from common import corpus, load_cache, page_urls, save_cache, serve, write_result

from rag.chains import RagChain
from rag.embeddings.cache import CachedEmbeddings
from rag.embeddings.local import LocalEmbeddings
from rag.evaluation import KS, evaluate, group_of, load_questions
from rag.indexing import build_index
from rag.loading.fetch import FetchConfig
from rag.loading.loader import WebLoader
from rag.retrieval import Retriever, history_query
from rag.splitting import get_splitter

EMBEDDER = "local:all-MiniLM-L6-v2"
CONFIGS = {
    "sections-900": ("sections", {"chunk_size": 900, "chunk_overlap": 150}),
    "sections-600": ("sections", {"chunk_size": 600, "chunk_overlap": 100}),
    "sections-1200": ("sections", {"chunk_size": 1200, "chunk_overlap": 150}),
    "recursive-900": ("recursive", {"chunk_size": 900, "chunk_overlap": 150}),
    "notebook-splitter": ("notebook", {}),
}


def baseline(urls: list[str], embeddings: CachedEmbeddings):
    """The notebook: WebBaseLoader → CharacterTextSplitter(800, 100) → SKLearnVectorStore."""
    import os

    os.environ.setdefault("USER_AGENT", "workshop-rag-bench")
    from langchain_community.document_loaders import WebBaseLoader
    from langchain_community.vectorstores import SKLearnVectorStore
    from langchain_text_splitters import CharacterTextSplitter

    started = time.perf_counter()
    docs = WebBaseLoader(urls).load()
    chunks = CharacterTextSplitter(chunk_size=800, chunk_overlap=100).split_documents(docs)
    store = SKLearnVectorStore.from_documents(chunks, embeddings)
    return store, len(chunks), time.perf_counter() - started


def scores(questions, search) -> dict:
    report = evaluate(questions, search)
    return {"groups": report["groups"], "overall": report["overall"], "questions": report["questions"]}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--corpus", default="python", choices=["python", "sqlite", "git"])
    parser.add_argument("--configs", nargs="*", default=["sections-900", "sections-600"])
    parser.add_argument(
        "--rewrite", action="store_true", help="also measure follow-ups rewritten by the embedded model"
    )
    parser.add_argument("--no-baseline", action="store_true")
    args = parser.parse_args()
    c = corpus(args.corpus)
    questions = load_questions(c.questions)
    local = LocalEmbeddings()
    cache = load_cache(EMBEDDER)
    results: dict[str, dict] = {}
    k = max(KS)
    with serve(c) as site:
        urls = page_urls(site.url, c)
        print(f"{c.name}: {len(urls)} pages, {len(questions)} questions")
        if not args.no_baseline:
            store, n_chunks, seconds = baseline(urls, CachedEmbeddings(local, EMBEDDER, cache))
            save_cache(cache, EMBEDDER)
            results["baseline (notebook)"] = {
                "chunks": n_chunks,
                "vector": scores(
                    questions,
                    lambda q: [d.metadata["source"] for d in store.similarity_search(q.question, k=k)],
                ),
            }
            print(f"baseline: {n_chunks} chunks, {seconds:.0f} s")
        for name in args.configs:
            splitter, overrides = CONFIGS[name]
            embeddings = CachedEmbeddings(local, EMBEDDER, cache)
            store, report = build_index(
                WebLoader(FetchConfig(concurrency=8)),
                embeddings,
                EMBEDDER,
                urls=urls,
                splitter=(splitter, get_splitter(splitter, **overrides)),
            )
            save_cache(cache, EMBEDDER)
            print(f"{name}: {report.summary()}")
            entry: dict = {"chunks": report.chunks, "failures": len(report.failures)}
            for mode in ("vector", "hybrid"):
                retriever = Retriever(store, mode=mode)  # type: ignore[arg-type]
                entry[mode] = scores(questions, lambda q, r=retriever: _urls(r.search(q.question, k)))
                entry[f"{mode}+history"] = scores(
                    questions, lambda q, r=retriever: _urls(r.search(history_query(q.question, q.history), k))
                )
            capped = Retriever(store, per_page=1)
            entry["hybrid+history, 1 per page"] = scores(
                questions, lambda q, r=capped: _urls(r.search(history_query(q.question, q.history), k))
            )
            if args.rewrite:
                from rag.llms.embedded import EmbeddedTarget

                chain = RagChain(EmbeddedTarget(), Retriever(store), k=k, history_mode="rewrite")
                entry["hybrid+rewrite"] = scores(
                    [q for q in questions if group_of(q) == "followup"],
                    lambda q, c=chain: _urls(c.retrieve(q.question, q.history)[2]),
                )
            results[name] = entry
    path = write_result(f"retrieval-{c.name}", {"corpus": c.name, "pages": len(urls), "results": results})
    print_table(results)
    print(f"\nwritten to {path}")


def _urls(hits) -> list[str]:
    return [h.document.metadata["source"] for h in hits]


def print_table(results: dict[str, dict]) -> None:
    heads = [
        "pipeline",
        "retrieval",
        "chunks",
        "single R@1",
        "single R@4",
        "single R@10",
        "single MRR",
        "follow-up R@4",
    ]
    print("\n| " + " | ".join(heads) + " |")
    print("|---|---|---|---|---|---|---|---|")
    base_miss = None
    for name, entry in results.items():
        for mode, s in entry.items():
            if not isinstance(s, dict) or "groups" not in s:
                continue
            single = s["groups"].get("single", {})
            follow = s["groups"].get("followup", {})
            if name.startswith("baseline"):
                base_miss = 1 - single.get("recall@4", 0)
            print(
                f"| {name} | {mode} | {entry['chunks']} | {single.get('recall@1', '-')} | "
                f"{single.get('recall@4', '-')} | {single.get('recall@10', '-')} | "
                f"{single.get('mrr', '-')} | {follow.get('recall@4', '-')} |"
            )
    if base_miss is not None:
        print(f"\nbaseline single-turn miss rate (1 - R@4): {base_miss:.3f}")


if __name__ == "__main__":
    main()
