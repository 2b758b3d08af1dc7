"""The manual's own name in a question (issue 12, twenty-fourth round: not taken, it loses a
question on SQLite, Git and the Developer's Reference).

    .venv/bin/python bench/site_probe.py [--corpora swipl maxima ...] [--weights 0 0.25 0.5 1]

Users name the product ("Can SWI-Prolog handle a rule written like that?"), and the name pulls
the question's vector towards the chunks that say it, not the page that answers. The name is
in most of a manual's page titles, so rag/site_words.py finds it from the index alone (the
words of half its titles, numbers never), and the retriever blends the question's vector with
the vector of the question without them at `site_weight` (0: the question as asked, the
default; 1: without the name). On each manual's saved `ours` index (run bench/retrieval.py
first; sites under 5 pages are skipped: score fusion does not run there), each question is
searched as the chat searches it at each weight, and each manual's weight is chosen on the
others by the default's rule. Results: bench/results/site-probe.json; a run on some manuals
keeps the others' rows.
"""

from __future__ import annotations

from probe_grid import prepared, rows_at, weights_main
from retrieval_variants import MemoEmbeddings

from rag.site_words import page_titles, site_words
from rag.store import pages_of


def probe_rows(name: str, embeddings: MemoEmbeddings, weights: list[float]) -> dict[str, dict]:
    """The manual's row at each weight (its site words printed, for the reader)."""
    found = prepared(name, embeddings, site_weight=0.0)
    if found is None:
        return {}
    store, first = found
    titles = page_titles(store.documents, pages_of(store.documents))
    print(name, "site words:", sorted(site_words(titles)), flush=True)
    return rows_at(store, first, name, weights, "site_weight", "site")


if __name__ == "__main__":
    weights_main("site-probe", probe_rows, weights=(0.0, 0.25, 0.5, 1.0))
