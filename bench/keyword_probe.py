"""Two further signals beside today's default, chosen leave-one-manual-out (issue 12,
twenty-first round).

    .venv/bin/python bench/keyword_probe.py [--corpora gnuplot cmake ...] [--weights 0 0.125 0.25]

- `keywords-w`: the question's rare words alone (those in under 5% of the manual's chunks,
  stop words dropped, in the question's order) embedded as a second query, its similarity
  to each chunk fused in as chunk evidence at weight w. Questions written by users are long
  and tell a story ("I'm logged into a server over SSH with no X display..."); MiniLM
  averages the story in, and the words that name the feature weigh little.
- `second-w`: each page's second-best chunk similarity as a page signal at weight w: a page
  where two sections are near the question is more likely about it than one with a single
  near chunk (the best chunk alone decides the vector signal today). Among distinct
  similarities (copies merged into one page hold each chunk twice); a page of one chunk has
  none (no evidence: 0 once standardised). A first run gave such a page its best chunk again
  and the copies' repeat; the rows are of the run after that was mended.

On each manual's saved `ours` index (bench/retrieval.py, run it first; small sites are
skipped: score fusion does not run there). Each manual's setting is chosen on the *other*
manuals by the default's rule (bench/retrieval_variants.py). Results:
bench/results/keyword-probe.json; a run on some manuals keeps the others' rows.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable

import numpy as np
from probe_grid import WithMore, prepared, scored, sharing, weights_main
from retrieval_variants import MemoEmbeddings
from sklearn.feature_extraction.text import ENGLISH_STOP_WORDS

from rag.score_fusion import Kind, runner_up
from rag.store import SKLearnStore

WORD = re.compile(r"[A-Za-z_][A-Za-z0-9_.+#-]*[A-Za-z0-9_+#]")
RARE = 0.05  # a word in fewer than this share of the manual's chunks is a keyword


# the default these were measured beside, pinned: without the library's second-best chunk signal
# (twenty-second round: bench/second_chunk_probe.py measures it, rag/score_fusion.runner_up)
TWENTY_FIRST_ROUND = {"second_chunk_weight": 0.0}
Signal = Callable[[str, str | None, np.ndarray], np.ndarray | None]


class WithSignal(WithMore):
    """Today's default with one further signal of `kind` fused in at `weight`:
    `values(query, question, similarity)` gives it for every chunk row."""

    def __init__(self, store: SKLearnStore, weight: float, kind: Kind, values: Signal) -> None:
        super().__init__(store, weight, kind, settings=TWENTY_FIRST_ROUND)
        self.signal = values

    def more(self, query: str, question: str | None, similarity: np.ndarray) -> np.ndarray | None:
        return self.signal(query, question, similarity)


def chunk_frequency(store: SKLearnStore) -> tuple[Counter, int]:
    counts: Counter = Counter()
    for doc in store.documents:
        counts.update({w.lower() for w in WORD.findall(doc.page_content)})
    return counts, len(store.documents)


def keywords(text: str, df: Counter, n: int) -> str:
    words = [w for w in WORD.findall(text) if w.lower() not in ENGLISH_STOP_WORDS]
    return " ".join(w for w in words if df.get(w.lower(), 0) < RARE * n)


def probe_rows(name: str, embeddings: MemoEmbeddings, weights: list[float]) -> dict[str, dict]:
    found = prepared(name, embeddings, **TWENTY_FIRST_ROUND)
    if found is None:
        return {}
    store, first = found
    df, n = chunk_frequency(store)
    groups = first.page_groups()

    def rare(query: str, question: str | None, _similarity: np.ndarray) -> np.ndarray | None:
        words = keywords(question or query, df, n)
        if not words:
            return None
        return store.similarities(np.asarray(embeddings.embed_query(words), dtype=np.float32))

    def second(_query: str, _question: str | None, similarity: np.ndarray) -> np.ndarray:
        return runner_up(groups, similarity)  # the library's: distinct values, NaN for none

    rows = {"default": scored(first, name)}
    for w in (w for w in weights if w):
        rows[f"keywords-{w:g}"] = scored(sharing(WithSignal(store, w, "chunk", rare), first), name)
        rows[f"second-{w:g}"] = scored(sharing(WithSignal(store, w, "page", second), first), name)
    return rows


if __name__ == "__main__":
    weights_main("keyword-probe", probe_rows, weights=(0.0, 0.125, 0.25))
