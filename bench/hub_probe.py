"""Hub pages found by searching the manual's own headings, stepped back by a share, chosen
leave-one-manual-out (issue 12, sixteenth round).

    .venv/bin/python bench/hub_probe.py [--corpora zsh git ...] [--weights 0 0.125 ...]

Some pages come up in the first four for a large share of questions and answer few of them:
Git's user-manual.html (12 of 24 questions, gold for none), CMake's index, Exim's overview
chapter. The hub penalty measured before (docs/decisions.md, tenth round) judged a chunk by
its vector's nearness to the corpus's mean direction. Here a page is judged by what the
default does: up to 400 of the manual's distinct section headings are searched as
questions, and a page's hub score is how often it is among the first five results for a
heading it does not have itself, counted by the library (rag/hub_pages.py,
`Retriever.hub_pages()`: what the default weighs). -log(1 + n) joins score fusion as a
page signal (rag/score_fusion.py's `Signals.more`), standardised over the pages like the
others. On each manual's saved `ours`
index (bench/retrieval.py, run it first); each manual's weight is chosen on the *other*
manuals by the rule the default is chosen by (bench/retrieval_variants.py). Results:
bench/results/hub-probe.json; a run on some manuals keeps the others' rows.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np
from probe_grid import prepared, scored, sharing, weights_main
from retrieval_variants import MemoEmbeddings

from rag.retrieval import Retriever
from rag.score_fusion import Signals
from rag.store import SKLearnStore


class HubRetriever(Retriever):
    """The default without its own hub pages (the fifteenth round's), with each page's hub
    count fused in at `weight` against it (at 0.125 the default since the sixteenth round)."""

    def __init__(self, store: SKLearnStore, hubs: np.ndarray, weight: float) -> None:
        super().__init__(store, hub_page_weight=0.0)
        self.hubs, self.weight = hubs, weight

    def _signals(self, query: str, question: str | None) -> tuple[Signals, list[float], np.ndarray] | None:
        found = super()._signals(query, question)
        if found is None or not self.weight:
            return found
        signals, weights, similarity = found
        return replace(signals, more=((self.hubs, "page"),)), [*weights, self.weight], similarity


def probe_rows(name: str, embeddings: MemoEmbeddings, weights: list[float]) -> dict[str, dict]:
    found = prepared(name, embeddings, hub_page_weight=0.0)  # headings searched as the probed default
    if found is None:
        return {}
    store, first = found
    found_hubs = first.hub_pages()  # rag/hub_pages.py, counted as the library counts them
    top = sorted(found_hubs.counts.items(), key=lambda item: -item[1])[:5]
    print(name, "hubs:", [(page.rsplit("/", 1)[-1], n) for page, n in top], flush=True)
    hubs = found_hubs.rows
    return {f"hubs-{w:g}": scored(sharing(HubRetriever(store, hubs, w), first), name) for w in weights}


def main() -> None:
    weights_main("hub-probe", probe_rows)


if __name__ == "__main__":
    main()
