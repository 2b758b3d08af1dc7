"""What counting hub pages costs (issue 12, sixteenth round): once per loaded index.

    .venv/bin/python bench/hub_cost.py [--corpora python sqlite ...]

On each manual's saved `ours` index (bench/retrieval.py, run it first): the seconds to
prepare the retriever without hub pages (BM25, centroids, page groups, outlines), then to
count them (rag/hub_pages.py: the sampled headings embedded in one batch and searched), and
the p50 of the manual's single-turn searches without and with them, as the chat makes them
(query embedding included), in the same run. The count is not saved in the index file: a
loaded index counts again once, in `prepare()` or its first search.
Results: bench/results/hub-cost.json.
"""

from __future__ import annotations

import argparse
import statistics
import time

from common import CACHE, corpus, questions_of, write_result
from outline_cost import EMBEDDER, seconds

from rag.embeddings.local import LocalEmbeddings
from rag.hub_pages import probe_headings
from rag.retrieval import Retriever
from rag.store import SKLearnStore


def search_ms(retriever: Retriever, name: str) -> float:
    """p50 of the manual's single-turn searches (query embedding included), three rounds."""
    asked = [q.question for q in questions_of(corpus(name)) if not q.history]
    times = []
    for _ in range(3):
        for question in asked:
            started = time.perf_counter()
            retriever.search(question, 4)
            times.append((time.perf_counter() - started) * 1000)
    return round(statistics.median(times), 1)


def cost(name: str, local: LocalEmbeddings) -> dict:
    store = SKLearnStore.load(CACHE / f"{name}-ours.ragidx", local, EMBEDDER)
    plain = Retriever(store, hub_page_weight=0.0)
    prepare, _ = seconds(plain.prepare)
    retriever = Retriever(store)
    retriever.adopt(plain.bm25(), plain.hubness(), plain.centroids())
    retriever.page_groups()
    counting, hubs = seconds(retriever.hub_pages)
    top = sorted(hubs.counts.items(), key=lambda item: -item[1])[:3]  # type: ignore[attr-defined]
    row = {
        "chunks": len(store),
        "pages": len(store.info.pages),
        "headings searched": len(probe_headings(store.documents, retriever.page_key)),
        "prepare without hub pages s": prepare,
        "hub pages s": counting,
        "search p50 ms, without / with hub pages": f"{search_ms(plain, name)} / {search_ms(retriever, name)}",
        "most common pages": ", ".join(f"{url.rsplit('/', 1)[-1]} {n}" for url, n in top),
    }
    print(name, row, flush=True)
    return row


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--corpora", nargs="*", default=["python", "docutils", "flask", "sqlite", "octave"])
    args = parser.parse_args()
    local = LocalEmbeddings()
    local.embed_documents(["warm up"])
    write_result("hub-cost", {"rows": {name: cost(name, local) for name in args.corpora}})


if __name__ == "__main__":
    main()
