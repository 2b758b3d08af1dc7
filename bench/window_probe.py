"""Short windows of each chunk as further vector evidence (issue 12, 44th round); not in the app.

    .venv/bin/python bench/window_probe.py [--corpora markdown werkzeug ...] [--weights 0.25 0.5 ...]

A section chunk is up to 900 characters, and MiniLM's one vector for it is the mean of
everything it says: Python-Markdown's `authors.html` says "@waylan is the current maintainer
of the code" in a chunk about five authors, and for "Who is the current maintainer of
Python-Markdown?" that chunk's similarity is below the manual's average page (0.33), while
the notebook's chunks (cut elsewhere) with BM25 and RRF put the page first. Here each chunk is also cut into
windows of a few sentences (up to WINDOW characters, a new one every STRIDE, each led by the
chunk's own last heading so a sentence keeps its topic), every window is embedded once
(saved per manual in bench/.cache), and a chunk's window evidence is its best window's
similarity to the query: a further chunk signal of score fusion at each weight given, beside
the default in the same run (`window-W`; `sparse-W`: every other window of a chunk only,
half as many to embed). Each manual's setting is chosen on the *other*
manuals by the default's rule (bench/retrieval_variants.py). Manuals without a saved index
(bench/retrieval.py builds it) or small enough to be fused by rank are skipped. Results:
bench/results/window-probe.json; a run on some manuals keeps the others' rows.
"""

from __future__ import annotations

import hashlib
import re

import numpy as np
from common import CACHE
from langchain_core.documents import Document
from probe_grid import WithMore, beside_default, weights_main
from retrieval_variants import MemoEmbeddings

from rag.store import SKLearnStore

WINDOW = 300  # characters a window holds at most (a longer sentence is one window, cut at LONGEST)
LONGEST = 400
STRIDE = 150  # characters between the starts of two windows
PIECES = re.compile(r"(?<=[.!?:])\s+|\n+")


def windows(doc: Document) -> list[str]:
    """The chunk's windows: runs of its sentences and lines (its heading path line left out),
    each led by the chunk's last heading."""
    heading = doc.metadata.get("heading", "").rpartition(" › ")[2].strip()
    text = doc.page_content
    first, _, rest = text.partition("\n")
    body = rest if heading and heading in first else text
    pieces = [p.strip() for p in PIECES.split(body) if p and p.strip()]
    starts = np.cumsum([0] + [len(p) + 1 for p in pieces])
    found: list[str] = []
    last = -STRIDE
    for i in range(len(pieces)):
        if starts[i] - last < STRIDE:  # the first piece always starts one (last = -STRIDE)
            continue
        last = starts[i]
        j = i + 1
        while j < len(pieces) and starts[j + 1] - starts[i] <= WINDOW:
            j += 1
        found.append(" ".join(pieces[i:j])[:LONGEST])
        if starts[j] >= starts[-1]:
            break
    lead = f"{heading}: " if heading else ""
    return [lead + w for w in found] or [text[:LONGEST]]


class Windows:
    """Every chunk's windows, embedded (or read from bench/.cache), and each chunk's best
    window similarity for a query vector."""

    def __init__(self, name: str, store: SKLearnStore, embeddings: MemoEmbeddings) -> None:
        per_chunk = [windows(doc) for doc in store.documents]
        self.owner = np.repeat(np.arange(len(per_chunk)), [len(w) for w in per_chunk])
        # each window's place among its chunk's: `sparse` reads every other one
        self.place = np.concatenate([np.arange(len(w)) for w in per_chunk]) if per_chunk else self.owner
        flat = [w for ws in per_chunk for w in ws]
        # named by the windows' own text: an index built again with other chunks embeds anew
        digest = hashlib.sha256("\0".join(flat).encode()).hexdigest()[:16]
        path = CACHE / f"{name}-windows-{digest}.npy"
        vectors = np.load(path) if path.exists() else None
        if vectors is None:
            vectors = np.asarray(embeddings.inner.embed_documents(flat), dtype=np.float32)
            np.save(path, vectors)
        self.vectors, self.rows = vectors, len(per_chunk)
        print(name, "chunks", self.rows, "windows", len(flat), flush=True)

    def best(self, vector: np.ndarray, sparse: bool = False) -> np.ndarray:
        """Each chunk's best window similarity; `sparse`: of its first, third, fifth... window
        only (windows a WINDOW apart, half as many to embed)."""
        keep = self.place % 2 == 0 if sparse else slice(None)
        out = np.full(self.rows, -np.inf, dtype=np.float32)
        np.maximum.at(out, self.owner[keep], self.vectors[keep] @ vector)
        return out


class WindowRetriever(WithMore):
    """The default with each chunk's best window similarity fused in at `weight`."""

    def __init__(self, store: SKLearnStore, weight: float, found: Windows, sparse: bool = False) -> None:
        super().__init__(store, weight, "chunk", settings={})
        self.found, self.sparse = found, sparse

    def more(self, query: str, question: str | None, similarity: np.ndarray) -> np.ndarray | None:
        if self.found.rows != len(similarity):
            return None
        return self.found.best(self.embed_query(query), self.sparse)


def window_rows(name: str, embeddings: MemoEmbeddings, weights: list[float]) -> dict[str, dict]:
    """The manual's row as the default has it and with window evidence at each weight, with
    the questions that rank otherwise than the default."""

    def variants(store: SKLearnStore) -> dict:
        found = Windows(name, store, embeddings)
        rows = {f"window-{w:g}": WindowRetriever(store, w, found) for w in weights}
        return {**rows, **{f"sparse-{w:g}": WindowRetriever(store, w, found, True) for w in weights}}

    return beside_default(name, embeddings, variants)


def main() -> None:
    weights_main("window-probe", window_rows, weights=(0.25, 0.5, 1.0))


if __name__ == "__main__":
    main()
