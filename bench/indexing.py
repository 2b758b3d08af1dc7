"""Indexing speed: our overlapped pipeline against the embedder alone and the notebook's pipeline.

    .venv/bin/python bench/indexing.py [--corpus python] [--delay 0.2] [--pages N]

The docs are served on loopback with `delay` seconds added to every response,
as a real site would. Measured in one run, on the same machine:
1. ours: rag/'s loader (concurrent fetch) → sections splitter → embedding in
   batches as pages arrive → store, end to end;
2. the embedder alone on exactly the chunks (1) produced, in the same batches;
3. the notebook: WebBaseLoader (one page after another) → CharacterTextSplitter
   (800/100) → SKLearnVectorStore.from_documents.
Floors: (1) ≤ 1.2 × (2), and (1) faster than (3). No vector cache is used.
"""

from __future__ import annotations

import argparse
import os
import time

from common import corpus, page_urls, serve, write_result

from rag.embeddings.local import LocalEmbeddings
from rag.indexing import EMBED_BATCH, build_index
from rag.loading.fetch import FetchConfig
from rag.loading.loader import WebLoader
from rag.splitting import get_splitter

EMBEDDER = "local:all-MiniLM-L6-v2"


def ours(urls: list[str], embeddings: LocalEmbeddings):
    started = time.perf_counter()
    store, report = build_index(
        WebLoader(FetchConfig(concurrency=16)),
        embeddings,
        EMBEDDER,
        urls=urls,
        splitter=("sections", get_splitter("sections")),
    )
    return store, report, time.perf_counter() - started


def embed_alone(texts: list[str], embeddings: LocalEmbeddings) -> float:
    started = time.perf_counter()
    for i in range(0, len(texts), EMBED_BATCH):
        embeddings.encode(texts[i : i + EMBED_BATCH])
    return time.perf_counter() - started


def notebook(urls: list[str], embeddings: LocalEmbeddings) -> tuple[int, float]:
    os.environ.setdefault("USER_AGENT", "workshop-rag-bench")
    from langchain_community.document_loaders import WebBaseLoader
    from langchain_community.vectorstores import SKLearnVectorStore
    from langchain_text_splitters import CharacterTextSplitter

    started = time.perf_counter()
    docs = WebBaseLoader(urls).load()
    chunks = CharacterTextSplitter(chunk_size=800, chunk_overlap=100).split_documents(docs)
    SKLearnVectorStore.from_documents(chunks, embeddings)
    return len(chunks), time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--corpus", default="python")
    parser.add_argument("--delay", type=float, default=0.2, help="seconds added to every response")
    parser.add_argument("--pages", type=int, help="only the first N pages (quick runs)")
    parser.add_argument("--skip-notebook", action="store_true")
    args = parser.parse_args()
    c = corpus(args.corpus)
    embeddings = LocalEmbeddings()
    embeddings.encode(["warm up"])  # load weights and kernels before timing anything
    with serve(c, delay=args.delay) as site:
        urls = page_urls(site.url, c)[: args.pages]
        store, report, t_ours = ours(urls, embeddings)
        print(f"ours: {report.summary()} (embedding {report.embed_seconds:.1f} s)")
        t_embed = embed_alone([d.page_content for d in store.documents], embeddings)
        print(f"embedder alone on the same {len(store)} chunks: {t_embed:.1f} s")
        base_chunks, t_base = (0, float("nan")) if args.skip_notebook else notebook(urls, embeddings)
        print(f"notebook pipeline: {base_chunks} chunks in {t_base:.1f} s")
    data = {
        "corpus": c.name,
        "pages": len(urls),
        "delay_s": args.delay,
        "ours": {
            "seconds": round(t_ours, 1),
            "chunks": report.chunks,
            "pages_ok": report.pages_ok,
            "failed": len(report.failures),
            "embed_seconds_inside": round(report.embed_seconds, 1),
        },
        "embedder_alone": {"seconds": round(t_embed, 1), "chunks": len(store)},
        "notebook": {"seconds": round(t_base, 1), "chunks": base_chunks},
        "ratio_ours_to_embedder": round(t_ours / t_embed, 3),
        "ratio_ours_to_notebook": round(t_ours / t_base, 3) if base_chunks else None,
    }
    path = write_result(f"indexing-{c.name}", data)
    print(
        f"ours / embedder alone = {data['ratio_ours_to_embedder']} (floor 1.2); "
        f"ours / notebook = {data['ratio_ours_to_notebook']}\nwritten to {path}"
    )


if __name__ == "__main__":
    main()
