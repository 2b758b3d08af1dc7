"""What the page outlines cost (issue 12, fifteenth round): embedding them once per index.

    .venv/bin/python bench/outline_cost.py [--corpora sqlite docutils ...]

On each manual's saved `ours` index (bench/retrieval.py, run it first): the seconds to load
the file, to prepare the retriever without outlines (BM25, centroids, page groups), to embed
every page's outline (rag/outlines.py), and, in the same run, to embed as many of the index's
chunks as it has pages: the outlines' share of building the index is pages ÷ chunks at about
that rate. A file saved after `prepare()` (as `python -m rag index --save` and the app save
it) carries the outlines, and loading one embeds none: its `load with outlines` time says so.
Last, the p50 of the manual's follow-up searches with and without the outlines.
Results: bench/results/outline-cost.json.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

from common import CACHE, corpus, questions_of, write_result

from rag.embeddings.local import LocalEmbeddings
from rag.retrieval import Retriever, history_query
from rag.store import SKLearnStore

EMBEDDER = "local:all-MiniLM-L6-v2"


def seconds(action) -> tuple[float, object]:
    started = time.perf_counter()
    value = action()
    return round(time.perf_counter() - started, 2), value


def follow_up_ms(retriever: Retriever, name: str) -> float:
    """p50 of the manual's follow-up searches, as the chat makes them (query embedding included)."""
    asked = [q for q in questions_of(corpus(name)) if q.history]
    times = []
    for _ in range(3):
        for q in asked:
            started = time.perf_counter()
            retriever.search(history_query(q.question, q.history), 4, question=q.question)
            times.append((time.perf_counter() - started) * 1000)
    return round(statistics.median(times), 1)


def cost(name: str, local: LocalEmbeddings) -> dict:
    path = CACHE / f"{name}-ours.ragidx"
    load, store = seconds(lambda: SKLearnStore.load(path, local, EMBEDDER))
    plain, _ = seconds(lambda: Retriever(store, outline_weight=0.0).prepare())
    retriever = Retriever(store)
    outlines, found = seconds(retriever.outlines)
    pages = len(found.vectors)
    chunks, _ = seconds(lambda: local.embed_documents([d.page_content for d in store.documents[:pages]]))
    without_ms = follow_up_ms(Retriever(store, outline_weight=0.0), name)
    with_ms = follow_up_ms(retriever, name)
    with tempfile.TemporaryDirectory() as folder:
        saved = store.save(Path(folder) / "with-outlines.ragidx")
        reload, again = seconds(lambda: SKLearnStore.load(saved, local, EMBEDDER))
        warm, _ = seconds(lambda: Retriever(again).prepare())
    row = {
        "chunks": len(store),
        "pages": pages,
        "load s": load,
        "prepare without outlines s": plain,
        "outlines s": outlines,
        "as many chunks s": chunks,
        "load with outlines s": reload,
        "prepare with saved outlines s": warm,
        "follow-up search p50 ms, without / with outlines": f"{without_ms} / {with_ms}",
    }
    print(name, row, flush=True)
    return row


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--corpora", nargs="*", default=["docutils", "flask", "sqlite", "octave"])
    args = parser.parse_args()
    local = LocalEmbeddings()
    local.embed_documents(["warm up"])
    write_result("outline-cost", {"rows": {name: cost(name, local) for name in args.corpora}})


if __name__ == "__main__":
    main()
