"""Vectors measured from the manual's own mean (mean centring), its share chosen
leave-one-manual-out (issue 12, sixteenth round).

    .venv/bin/python bench/centering_probe.py [--corpora zsh cmake ...] [--shares 0 0.5 1]

MiniLM's vectors of one manual share a large common direction: every chunk is about, say,
Git. A long page that touches everything (a user manual, an FAQ, an index) sits close to
that direction and so near every question. Subtracting a share of the mean of the manual's
chunk vectors from every chunk, outline and query vector before the cosine ("all-but-the-top",
Mu and Viswanath 2018, its first step) compares what is particular to each. On each manual's
saved `ours` index (bench/retrieval.py, run it first) the default ranks with its vectors
centred by each share, every signal alike (chunks, centroids, outlines, the bare question of
a follow-up); BM25 is unchanged. Each manual's share is chosen on the *other* manuals by the
rule the default is chosen by (bench/retrieval_variants.py). Results:
bench/results/centering-probe.json; a run on some manuals keeps the others' rows.
"""

from __future__ import annotations

import argparse

import numpy as np
from common import CACHE, CORPORA
from langchain_core.embeddings import Embeddings
from probe_grid import FIFTEENTH_ROUND, run, scored
from retrieval_variants import EMBEDDER, MemoEmbeddings

from rag.embeddings.local import LocalEmbeddings
from rag.retrieval import Retriever
from rag.store import SKLearnStore, pages_of


class Centred(Embeddings):
    """Another embedder's vectors less `shift` (a share of a manual's mean vector)."""

    def __init__(self, inner: Embeddings, shift: np.ndarray) -> None:
        self.inner, self.shift = inner, shift

    def embed_query(self, text: str) -> list[float]:
        return (np.asarray(self.inner.embed_query(text), dtype=np.float32) - self.shift).tolist()

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        return (np.asarray(self.inner.embed_documents(texts), dtype=np.float32) - self.shift).tolist()


def centred_store(store: SKLearnStore, share: float) -> SKLearnStore:
    """A copy of the store whose chunk and outline vectors (and queries) are less `share` of
    the mean chunk vector."""
    shift = (share * store.vectors.mean(axis=0)).astype(np.float32)
    copy = SKLearnStore(Centred(store.embeddings, shift), EMBEDDER)
    copy.add_vectors(store.documents, store.vectors - shift, store.ids)
    copy.add_pages((p["url"], p.get("title", "")) for p in store.info.pages)
    outlines = store.outlines_for(pages_of(store.documents))
    copy.keep_outlines({page: vector - shift for page, vector in outlines.items()}, copy.generation)
    return copy


def centring_rows(name: str, embeddings: MemoEmbeddings, shares: list[float]) -> dict[str, dict]:
    store = SKLearnStore.load(CACHE / f"{name}-ours.ragidx", embeddings, EMBEDDER)  # type: ignore[arg-type]
    Retriever(store, **FIFTEENTH_ROUND).prepare()  # outlines: from the file, or embedded once here
    # beside the fifteenth round's default (no hub pages), as the rows were measured
    plain = lambda share: Retriever(centred_store(store, share) if share else store, **FIFTEENTH_ROUND)  # noqa: E731
    return {f"centre-{share:g}": scored(plain(share), name) for share in shares}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--corpora", nargs="*", default=list(CORPORA))
    parser.add_argument("--shares", nargs="*", type=float, default=[0.0, 0.5, 1.0])
    args = parser.parse_args()
    embeddings = MemoEmbeddings(LocalEmbeddings())
    run("centering-probe", args.corpora, lambda manual: centring_rows(manual, embeddings, args.shares))


if __name__ == "__main__":
    main()
