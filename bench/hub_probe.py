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

from probe_grid import FIFTEENTH_ROUND, WithMore, prepared, scored, sharing, weights_main
from retrieval_variants import MemoEmbeddings


def probe_rows(name: str, embeddings: MemoEmbeddings, weights: list[float]) -> dict[str, dict]:
    found = prepared(name, embeddings, **FIFTEENTH_ROUND)  # headings searched as the probed default
    if found is None:
        return {}
    store, first = found
    found_hubs = first.hub_pages()  # rag/hub_pages.py, counted as the library counts them
    top = sorted(found_hubs.counts.items(), key=lambda item: -item[1])[:5]
    print(name, "hubs:", [(page.rsplit("/", 1)[-1], n) for page, n in top], flush=True)
    hubs = found_hubs.rows
    # the fifteenth round's default without its own hub pages, this count fused in at w
    probe = lambda w: WithMore(store, w, "page", lambda _query, _rows: hubs)  # noqa: E731
    return {f"hubs-{w:g}": scored(sharing(probe(w), first), name) for w in weights}


def main() -> None:
    weights_main("hub-probe", probe_rows)


if __name__ == "__main__":
    main()
