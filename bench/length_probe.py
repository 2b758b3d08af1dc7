"""BM25's weight by the question's length (issue 12, twenty-third round: not taken).

    .venv/bin/python bench/length_probe.py [--corpora gnuplot cmake ...]

Questions written by users run from six words to a story of forty, and BM25 matches every
content word of the story alike, incidental ones included, while the vector search reads the
whole. Does the lexical weight that suits a short question (LEXICAL_WEIGHT, one for all)
suit a long one? On each manual's saved `ours` index (run bench/retrieval.py first; small
sites are skipped: score fusion does not run there), each question is searched at lexical
weights 0, 0.25, 0.5 (the default) and 1, and its gold page's rank kept with the number of
distinct content words in the query (rag.lexical.tokenize, before BM25 stems them; a
follow-up's query holds its history). Rows: each fixed weight, and two rules that pick the weight by that
number (`short-1`: 1 up to SHORT terms, else the default; `long-0.25`: 0.25 beyond LONG
terms, else the default), with each manual's setting chosen on the others by the default's
rule; and single-turn R@4 at each weight by length band over all manuals (`bands`).
Results: bench/results/length-probe.json; a run on some manuals keeps the others' rows.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable

from common import CORPORA, RESULTS, corpus, questions_of, summary_row
from probe_grid import prepared, run, sharing
from retrieval_probes import default_search
from retrieval_variants import MemoEmbeddings

from rag.embeddings.local import LocalEmbeddings
from rag.evaluation import Question, evaluate, first_hit_rank, group_of
from rag.lexical import tokenize
from rag.retrieval import LEXICAL_WEIGHT, Retriever, history_query

WEIGHTS = (0.0, 0.25, LEXICAL_WEIGHT, 1.0)
SHORT, LONG = 11, 16  # content terms: the lower quartile over all manuals, one below the upper
BANDS = ((0, 8), (9, SHORT), (SHORT + 1, LONG), (LONG + 1, 999))
RANKS = RESULTS / "length-probe-ranks.json"  # each question's rank at each weight, by manual


def terms(query: str) -> int:
    """The query's distinct content words."""
    return len(set(tokenize(query)))


def ranked(at: dict[float, Retriever], questions: list[Question]) -> dict[float, dict[int, list[str]]]:
    """Each question's sources at each weight, searched once (by the question's place)."""
    found: dict[float, dict[int, list[str]]] = {}
    for w, r in at.items():
        search = default_search(r)
        found[w] = {i: search(history_query(q.question, q.history), q) for i, q in enumerate(questions)}
    return found


def probe_rows(name: str, embeddings: MemoEmbeddings) -> dict[str, dict]:
    """The manual's row at each fixed weight and for each rule; its ranks kept for `bands`."""
    found = prepared(name, embeddings)
    if found is None:
        return {}
    store, first = found
    at = {w: sharing(Retriever(store, lexical_weight=w), first) for w in WEIGHTS if w != LEXICAL_WEIGHT}
    at[LEXICAL_WEIGHT] = first
    questions = questions_of(corpus(name))
    sources = ranked(at, questions)
    sizes = [terms(history_query(q.question, q.history)) for q in questions]
    place = {id(q): i for i, q in enumerate(questions)}

    def by(pick: Callable[[int], float]) -> dict[str, float]:
        return summary_row(evaluate(questions, lambda q: sources[pick(sizes[place[id(q)]])][place[id(q)]]))

    rows = {f"lexical-{w:g}": by(lambda _n, w=w: w) for w in WEIGHTS}
    rows["short-1"] = by(lambda n: 1.0 if n <= SHORT else LEXICAL_WEIGHT)
    rows["long-0.25"] = by(lambda n: 0.25 if n > LONG else LEXICAL_WEIGHT)
    keep_ranks(name, sources, questions, sizes)
    return rows


def keep_ranks(
    name: str, sources: dict[float, dict[int, list[str]]], questions: list[Question], sizes: list[int]
) -> None:
    """Each single-turn question's gold rank at each weight, in RANKS (other manuals kept)."""
    saved = json.loads(RANKS.read_text()) if RANKS.exists() else {}
    ranks = []
    for i, q in enumerate(questions):
        if q.gold and group_of(q) == "single":
            found = {f"{w:g}": first_hit_rank(sources[w][i], q.gold) for w in WEIGHTS}
            ranks.append({"id": q.id, "terms": sizes[i], **found})
    saved[name] = ranks
    RANKS.write_text(json.dumps(saved, indent=1))


def bands(manuals: list[str]) -> dict[str, dict[str, float]]:
    """Single-turn R@4 at each weight by the question's content words, over these manuals;
    `hits` beside each share, so a report rounds once."""
    saved = json.loads(RANKS.read_text())
    out = {}
    for low, high in BANDS:
        rows = [r for m in manuals for r in saved.get(m, []) if low <= r["terms"] <= high]
        hit = {f"{w:g}": sum(1 for r in rows if r[f"{w:g}"] and r[f"{w:g}"] <= 4) for w in WEIGHTS}
        shares = {w: h / len(rows) if rows else 0.0 for w, h in hit.items()}
        out[f"{low}-{high}"] = {"questions": len(rows), **shares, "hits": hit}
    return out


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--corpora", nargs="*", default=list(CORPORA))
    args = parser.parse_args()
    embeddings = MemoEmbeddings(LocalEmbeddings())
    run("length-probe", args.corpora, lambda manual: probe_rows(manual, embeddings))
    data = json.loads((RESULTS / "length-probe.json").read_text())
    data["bands"] = bands(data["manuals"])
    (RESULTS / "length-probe.json").write_text(json.dumps(data, indent=1))
    print(json.dumps(data["bands"], indent=1))
