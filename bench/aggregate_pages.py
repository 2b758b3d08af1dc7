"""Which pages rag/aggregates.py takes for other pages joined into one, on every manual's
saved index (issue 12, nineteenth round).

    .venv/bin/python bench/aggregate_pages.py [--corpora rustref sqlite ...]

For each page with chunks copied from at least three other pages: its chunks, the share of
them that are each the text of a chunk on exactly one other page, how many pages those
copies come from, and whether the rule (SHARE, SOURCES, MIN_CHUNKS) takes it. Results:
bench/results/aggregate-pages.json.
"""

from __future__ import annotations

import argparse

from common import CACHE, CORPORA, write_result
from retrieval_variants import EMBEDDER

from rag.aggregates import single_copies
from rag.copies import copies_of
from rag.embeddings.local import LocalEmbeddings
from rag.retrieval import _body
from rag.store import SKLearnStore, pages_of


def candidates(store: SKLearnStore) -> list[dict]:
    """Pages with single copies from three or more other pages, and the rule's verdict."""
    docs = store.documents
    pages = pages_of(docs)
    copies = copies_of(docs, pages)
    counted = single_copies([_body(d) for d in docs], pages, lambda page: copies.get(page, page))
    return [
        {
            "page": page.split("/", 3)[-1],
            "chunks": c.chunks,
            "single copies": round(c.single / c.chunks, 3),
            "from pages": c.sources,
            "aggregate": c.aggregate,
        }
        for page, c in counted.items()
        if c.sources >= 3
    ]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--corpora", nargs="*", default=list(CORPORA))
    args = parser.parse_args()
    embeddings = LocalEmbeddings()
    out = {}
    for name in args.corpora:
        path = CACHE / f"{name}-ours.ragidx"
        if path.exists():
            store = SKLearnStore.load(path, embeddings, EMBEDDER)
            out[name] = candidates(store)
            print(name, out[name], flush=True)
    write_result("aggregate-pages", {"manuals": out})


if __name__ == "__main__":
    main()
