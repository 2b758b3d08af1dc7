"""Pages like a page ranked above them: near copies, repeated headings (issue 12, 43rd round).

    .venv/bin/python bench/near_copy_probe.py [--corpora werkzeug crmsh ...] [--weights 0.85 0.9 ...]

Templated sibling pages repeat a section with a word or two changed: Werkzeug's deployment
pages (nginx, Apache httpd, waitress, eventlet) each have a "Binding Externally" section, and
for a question about proxies the four took the first four places while the page that answers
was seventh. Exact copies are already dropped (`dedupe`); these are not even near copies
(their chunks' cosine similarities 0.56 to 0.79), but their headings repeat. On each
manual's saved `ours` index (bench/retrieval.py, run it first), the manual's questions scored
as the benchmark scores them, in the same run, with:
- `default`: the retriever as it is;
- `near-T`: a page whose chunk (the one it ranks by) has cosine similarity at least T with
  the chunk of a page ranked above it comes after every page that does not (in their order);
- `heading-after`: a page whose chunk sits under the same heading (the last of its heading
  path: "Binding Externally", "Configuration") as the chunk of a page ranked above it comes
  after every page that does not; `heading-X`: such a page's fused score less X.
Each manual's setting is chosen on the *other* manuals by the default's rule
(bench/retrieval_variants.py). Manuals without a saved index or small enough to be fused by
rank are skipped. Results: bench/results/near-copy-probe.json; a run on some manuals keeps
the others' rows.
"""

from __future__ import annotations

import numpy as np
from langchain_core.documents import Document
from probe_grid import beside_default, moved_back, weights_main
from retrieval_variants import MemoEmbeddings

from rag.retrieval import Retriever, StepBack
from rag.store import SKLearnStore

THRESHOLDS = (0.85, 0.9)
HEADING_PENALTIES = (0.0, 0.25, 0.5)  # 0: `heading-after`
DEPTH = 12  # how many leading pages are compared: the benchmark reads ten


def last_heading(doc: Document) -> str:
    """The last part of the chunk's heading path, folded; empty where it has none."""
    return doc.metadata.get("heading", "").rpartition(" › ")[2].strip().casefold()


class NearCopies(Retriever):
    """The default, with a row like a row ranked above it (a near copy at `threshold`, or the
    same heading where `threshold` is None) moved after the others or `penalty` down."""

    def __init__(self, store: SKLearnStore, threshold: float | None, penalty: float = 0.0) -> None:
        super().__init__(store)
        self.threshold, self.penalty = threshold, penalty

    def _like(self, row: int, kept: list[int]) -> bool:
        if not kept:
            return False
        if self.threshold is not None:
            vectors = self.store.vectors
            return float(np.max(vectors[kept] @ vectors[row])) >= self.threshold
        docs = self.store.documents
        heading = last_heading(docs[row])
        return bool(heading) and any(last_heading(docs[k]) == heading for k in kept)

    def _ordered(self, fused: dict[int, float], back: StepBack) -> list[tuple[int, float]]:
        ranked = super()._ordered(fused, back)
        docs = self.store.documents
        kept: list[int] = []  # the first row of each page kept in place
        fate: dict[str, bool] = {}  # each page seen: whether it is like a page above it
        for row, _ in ranked:
            page = self.page_key(docs[row], row)
            if page not in fate:
                if len(fate) == DEPTH:
                    break
                fate[page] = self._like(row, kept)
                if not fate[page]:
                    kept.append(row)
        copies = {row for row, _ in ranked if fate.get(self.page_key(docs[row], row))}
        return moved_back(ranked, copies, self.penalty) if copies else ranked


def near_rows(name: str, embeddings: MemoEmbeddings, thresholds: list[float]) -> dict[str, dict]:
    """The manual's row as the default has it and with each setting, with the questions that
    rank otherwise than the default."""
    settings = {f"near-{t:g}": (t, 0.0) for t in thresholds}
    for x in HEADING_PENALTIES:
        settings["heading-after" if not x else f"heading-{x:g}"] = (None, x)
    return beside_default(
        name, embeddings, lambda store: {k: NearCopies(store, *v) for k, v in settings.items()}
    )


def main() -> None:
    weights_main("near-copy-probe", near_rows, weights=THRESHOLDS)


if __name__ == "__main__":
    main()
