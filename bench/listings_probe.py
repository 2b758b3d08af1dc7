"""Source listings in place instead of last (issue 12, thirty-eighth round).

    .venv/bin/python bench/listings_probe.py [--corpora tooz sqlobject ...]

On each manual's saved `ours` index (bench/retrieval.py, run it first) that holds source
listings (rag/retrieval.py's SOURCE_LISTING): the manual's questions scored as the benchmark
scores them, with the default (listings after every other page) and with
`Retriever.listings_last` off, in the same run. Manuals without a saved index or without
listings are skipped. Results: bench/results/listings-probe.json.
"""

from __future__ import annotations

import argparse

from common import CORPORA, corpus, questions_of, write_result
from retrieval import EMBEDDER, CachedEmbeddings, load_cache, ours_scores, saved_index

from rag.embeddings.local import LocalEmbeddings
from rag.evaluation import KS
from rag.retrieval import SOURCE_LISTING, Retriever
from rag.store import SKLearnStore


def ranked(store: SKLearnStore, name: str, listings_last: bool) -> dict:
    """The manual's scores with source listings last or in place."""
    retriever = Retriever(store)
    retriever.listings_last = listings_last
    report = ours_scores(store, questions_of(corpus(name)), max(KS), retriever)
    return {"groups": report["groups"], "ranks": {q["id"]: q["rank"] for q in report["questions"]}}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--corpora", nargs="*", default=list(CORPORA))
    args = parser.parse_args()
    embeddings = CachedEmbeddings(LocalEmbeddings(), EMBEDDER, load_cache(EMBEDDER))
    rows: dict[str, dict] = {}
    for name in args.corpora:
        store = saved_index(name, "ours", embeddings)
        if store is None:
            continue
        listings = sum(1 for d in store.documents if SOURCE_LISTING.search(d.metadata.get("url", "")))
        if not listings:
            continue
        last, in_place = ranked(store, name, True), ranked(store, name, False)
        rows[name] = {"listing chunks": listings, "last": last, "in place": in_place}
        print(name, last["groups"]["single"]["recall@4"], in_place["groups"]["single"]["recall@4"])
    print(write_result("listings-probe", {"manuals": rows}))


if __name__ == "__main__":
    main()
