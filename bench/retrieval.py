"""Retrieval quality on every manual: ours against two baselines, in the same run.

    .venv/bin/python bench/retrieval.py                          # every manual in bench/common.py
    .venv/bin/python bench/retrieval.py --corpus flask django    # some of them

Each manual is served on loopback and indexed as web pages. Three pipelines, always
together, each searched with the same text (a follow-up: the last exchange, then the
question, as the CLI's `search --queries-file` does with the embedded model):
- `notebook`: the notebook's exact pipeline — WebBaseLoader, CharacterTextSplitter
  (800/100), SKLearnVectorStore (langchain-community), the same MiniLM, top-k by
  vector similarity;
- `notebook+RRF`: the notebook's own chunks, vector and plain BM25 fused by reciprocal
  rank (k = 60, equal weights), nothing else;
- `ours`: the default pipeline as `python -m rag index --urls-file` builds it
  (`rag.pipeline.index_pages(Settings())`) and `python -m rag search` ranks it
  (`Retriever(store)` with its defaults).
Scores: recall@1/4/10 and MRR of single-turn questions, recall@4 of follow-ups, by gold
page (rag/evaluation.py); one result file per manual, bench/report.py adds the
minimum across manuals. Both indexes are saved to bench/.cache/<manual>-{notebook,ours}.ragidx
for bench/retrieval_variants.py, and vectors are cached on disk so reruns embed only
new chunks; `--reuse` ranks those saved indexes again without fetching (the chunks are
the same as long as the default splitter is). `--ours-only` ranks ours again and keeps the
baselines' rows of the manual's last result file (they do not change with our ranking; the
file says when they were measured), for a change of ranking on manuals whose notebook
indexes are not at hand.
"""

from __future__ import annotations

import argparse
import json
import os
import time

from common import (
    CACHE,
    CORPORA,
    RESULTS,
    corpus,
    load_cache,
    page_urls,
    questions_of,
    save_cache,
    serve,
    write_result,
)
from langchain_core.documents import Document

from rag.embeddings.base import EmbedderSpec
from rag.embeddings.cache import CachedEmbeddings, embed_array
from rag.embeddings.local import LocalEmbeddings
from rag.evaluation import KS, evaluate, group_of
from rag.pipeline import index_pages
from rag.retrieval import Retriever, history_query
from rag.settings import Settings
from rag.store import SKLearnStore

EMBEDDER = "local:all-MiniLM-L6-v2"
PIPELINES = ("notebook", "notebook+RRF", "ours")


def notebook_chunks(urls: list[str]) -> list[Document]:
    """The notebook: WebBaseLoader → CharacterTextSplitter(800, 100)."""
    os.environ.setdefault("USER_AGENT", "workshop-rag-bench")
    from langchain_community.document_loaders import WebBaseLoader
    from langchain_text_splitters import CharacterTextSplitter

    docs = WebBaseLoader(urls).load()
    chunks = CharacterTextSplitter(chunk_size=800, chunk_overlap=100).split_documents(docs)
    for chunk in chunks:
        chunk.metadata["url"] = chunk.metadata["source"]
    return chunks


def notebook_stores(urls: list[str], embeddings: CachedEmbeddings, saved: SKLearnStore | None = None):
    """The notebook's SKLearnVectorStore, and the same chunks and vectors in our store
    (`saved`: the chunks of an earlier run, instead of fetching and splitting again)."""
    from langchain_community.vectorstores import SKLearnVectorStore

    chunks = saved.documents if saved is not None else notebook_chunks(urls)
    theirs = SKLearnVectorStore.from_documents(chunks, embeddings)
    ours = SKLearnStore(embeddings, EMBEDDER, "notebook-webbase")
    ours.add_vectors(chunks, embed_array(embeddings, [c.page_content for c in chunks]))  # cached
    return theirs, ours


def plain_rrf(store: SKLearnStore) -> Retriever:
    """The notebook's chunks, vector + BM25 fused by RRF k=60 with equal weights, nothing else."""
    return Retriever(
        store, mode="hybrid", rrf_k=60, lexical_weight=1.0, dedupe=False, per_page=None, plain=True
    )


def query_of(q) -> str:
    return history_query(q.question, q.history)


def scores(questions, search) -> dict:
    report = evaluate(questions, search)
    return {"groups": report["groups"], "overall": report["overall"], "questions": report["questions"]}


def urls_of(hits) -> list[str]:
    return [h.document.metadata["source"] for h in hits]


def saved_index(name: str, kind: str, embeddings: CachedEmbeddings, splitter: str | None = None):
    """The index an earlier run saved, if it was built the way this run would build it."""
    path = CACHE / f"{name}-{kind}.ragidx"
    if not path.exists():
        return None
    store = SKLearnStore.load(path, embeddings, EMBEDDER)
    return store if splitter is None or store.info.splitter == splitter else None


def run_corpus(
    name: str, local: LocalEmbeddings, rewrite: bool, reuse: bool, index_only: bool = False
) -> dict:
    c = corpus(name)
    questions = [] if index_only else questions_of(c)
    cache = load_cache(EMBEDDER)
    embeddings = CachedEmbeddings(local, EMBEDDER, cache)
    k = max(KS)
    results: dict[str, dict] = {}
    with serve(c) as site:
        urls = page_urls(site.url, c)
        print(f"{c.name}: {len(urls)} pages, {len(questions)} questions", flush=True)
        started = time.perf_counter()
        theirs, nb_store = notebook_stores(
            urls, embeddings, saved_index(name, "notebook", embeddings) if reuse else None
        )
        save_cache(cache, EMBEDDER)
        nb_store.save(CACHE / f"{name}-notebook.ragidx")
        print(f"notebook: {len(nb_store)} chunks, {time.perf_counter() - started:.0f} s", flush=True)
        if index_only:
            ours_store(name, urls, local, cache, reuse)
            return {}
        results["notebook"] = {
            "chunks": len(nb_store),
            **scores(
                questions,
                lambda q: [d.metadata["source"] for d in theirs.similarity_search(query_of(q), k=k)],
            ),
        }
        rrf = plain_rrf(nb_store)
        results["notebook+RRF"] = {
            "chunks": len(nb_store),
            **scores(questions, lambda q: urls_of(rrf.search(query_of(q), k))),
        }
        store = ours_store(name, urls, local, cache, reuse)
        results["ours"] = ours_scores(store, questions, k)
        if rewrite:
            results["ours+rewrite"] = rewrite_scores(store, questions, k)
    return {"corpus": c.name, "pages": len(urls), "questions": len(questions), "results": results}


def ours_scores(store: SKLearnStore, questions, k: int, retriever: Retriever | None = None) -> dict:
    """Ours: `Retriever(store)` with its defaults (or the retriever a probe set up), a
    follow-up's bare question beside its history."""
    retriever = retriever or Retriever(store)
    return {
        "chunks": len(store),
        "splitter": store.info.splitter,
        **scores(questions, lambda q: urls_of(retriever.search(query_of(q), k, question=q.question))),
    }


def rescore_ours(name: str, local: LocalEmbeddings) -> dict:
    """Ours ranked again on its saved index (built if missing), the baselines' rows kept from
    the manual's last result file: they do not depend on our default (`--ours-only`)."""
    previous = json.loads((RESULTS / f"retrieval-{name}.json").read_text())
    c = corpus(name)
    questions = questions_of(c)
    with serve(c) as site:
        store = ours_store(name, page_urls(site.url, c), local, load_cache(EMBEDDER), True)
    results = {p: previous["results"][p] for p in ("notebook", "notebook+RRF") if p in previous["results"]}
    results["ours"] = ours_scores(store, questions, max(KS))
    kept = {key: previous[key] for key in ("corpus", "pages", "questions")}
    measured = previous.get("baselines measured", previous["machine"]["date"])
    return {**kept, "results": results, "baselines measured": measured}


def ours_store(name: str, urls: list[str], local: LocalEmbeddings, cache, reuse: bool) -> SKLearnStore:
    """The default index as `python -m rag index --urls-file` builds it (or the saved one)."""
    settings = Settings()
    fresh = CachedEmbeddings(local, EMBEDDER, cache)  # counts only its own embedding calls
    store = saved_index(name, "ours", fresh, settings.splitter) if reuse else None
    if store is None:
        store, report = index_pages(
            settings, urls=urls, embeddings=(fresh, EmbedderSpec("local", "all-MiniLM-L6-v2"))
        )
        save_cache(cache, EMBEDDER)
        store.save(CACHE / f"{name}-ours.ragidx")
        print(f"ours ({settings.splitter}): {report.summary()}", flush=True)
        for failure in report.failures:  # the reader can tell a stub from a loader defect
            print(f"  failed: {failure.url}: {failure.message}", flush=True)
    return store


def rewrite_scores(store: SKLearnStore, questions, k: int) -> dict:
    """Follow-ups rewritten by the embedded model (the notebook's rewrite prompt)."""
    from rag.chains import RagChain
    from rag.llms.embedded import EmbeddedTarget

    chain = RagChain(EmbeddedTarget(), Retriever(store), k=k, history_mode="rewrite")
    followups = [q for q in questions if group_of(q) == "followup"]
    return {
        "chunks": len(store),
        **scores(followups, lambda q: urls_of(chain.retrieve(q.question, q.history)[2])),
    }


def print_table(data: dict) -> None:
    print(f"\n{data['corpus']}: | pipeline | chunks | R@1 | R@4 | R@10 | MRR | follow-up R@4 |")
    for name, entry in data["results"].items():
        single = entry["groups"].get("single", {})
        follow = entry["groups"].get("followup", {})
        print(
            f"| {name} | {entry['chunks']} | {single.get('recall@1', '-')} | {single.get('recall@4', '-')} | "
            f"{single.get('recall@10', '-')} | {single.get('mrr', '-')} | {follow.get('recall@4', '-')} |"
        )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--corpus", nargs="+", default=list(CORPORA), choices=list(CORPORA))
    parser.add_argument("--configs", nargs="*", default=[], help="(ignored; kept for bench/run_all.sh)")
    parser.add_argument(
        "--reuse",
        action="store_true",
        help="rank the indexes an earlier run saved (same chunks, no fetching)",
    )
    parser.add_argument(
        "--rewrite", action="store_true", help="also follow-ups rewritten by the embedded model"
    )
    parser.add_argument(
        "--index-only",
        action="store_true",
        help="build and save the indexes, score nothing (before a manual's questions are written)",
    )
    parser.add_argument(
        "--ours-only",
        action="store_true",
        help="rank ours again on its saved index; keep the baselines' rows of the last run",
    )
    args = parser.parse_args()
    local = LocalEmbeddings()
    for name in args.corpus:
        if args.ours_only:
            data = rescore_ours(name, local)
        else:
            data = run_corpus(name, local, args.rewrite, args.reuse, args.index_only)
        if not data:
            continue
        path = write_result(f"retrieval-{name}", data)
        print_table(data)
        print(f"written to {path}", flush=True)


if __name__ == "__main__":
    main()
