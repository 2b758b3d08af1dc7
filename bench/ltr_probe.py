"""A learned ranker over the default's own evidence, leave-one-manual-out (issue 12,
seventeenth round): can the signals score fusion already has, with a few more (the share of
the question's words a page holds, in its text and its title, weighted by rarity; the page's
length; its rank in each signal), order the first 30 pages better than their weighted sum?

For each manual the default ranks every question's first 30 pages (`Retriever.search`); each
page becomes a row of features, labelled gold or not. A model fitted on the other manuals'
rows reorders the held-out manual's pages (pages that step back stay last, as in the search),
and its R@4 / MRR / follow-up R@4 are set beside the default's on the same pages.

    PYTHONPATH=. .venv/bin/python bench/ltr_probe.py
"""

from __future__ import annotations

import argparse
import math
from dataclasses import dataclass

import numpy as np
from common import CORPORA, corpus, questions_of, write_result
from probe_grid import prepared
from retrieval_variants import MemoEmbeddings
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from rag.embeddings.local import LocalEmbeddings
from rag.evaluation import Question, group_of, is_gold
from rag.lexical import tokenize_stemmed
from rag.retrieval import Retriever, history_query
from rag.score_fusion import scaled_parts

DEPTH = 30  # pages reordered per question
SIGNALS = 6  # vector, BM25, centroid, bare question, outline, hub pages (absent ones are 0)
# the first features, in order (the rest: sizes, ranks in each signal, follow-up or not)
NAMES = ("vector", "BM25", "centroid", "bare question", "outline", "hub pages", "fused", "gap", "rank")
NAMES += ("log rank", "share of words", "by rarity", "title share", "title by rarity")
MODELS = {
    "logistic": lambda: make_pipeline(StandardScaler(), LogisticRegression(max_iter=2000)),
    "boosted trees": lambda: make_pipeline(
        StandardScaler(),
        HistGradientBoostingClassifier(max_iter=150, learning_rate=0.05, max_depth=3, min_samples_leaf=40),
    ),
}


@dataclass
class Pages:
    """What the features need of a manual's pages, by score fusion's page number."""

    number: dict[str, int]  # page key -> page number
    row: dict[int, int]  # id of a chunk's document -> its row (a hit's page key needs it)
    first: list[int]  # a row of each page (what `steps_back` asks about)
    words: list[set[str]]  # stemmed words of its text and title
    title: list[set[str]]  # stemmed words of its title
    size: np.ndarray  # chunks, characters
    rarity: dict[str, float]  # log(pages / pages holding the word)

    @classmethod
    def of(cls, r: Retriever) -> Pages:
        docs, groups = r.store.documents, r.page_groups()
        number, first, words, title, size = {}, [], [], [], []
        for page in range(len(groups.starts)):
            rows = [int(row) for row in groups.rows(page)]
            head = docs[rows[0]]
            name = head.metadata.get("title", "") or ""
            text = " ".join(docs[row].page_content for row in rows)
            number[r.page_key(head, rows[0])] = page
            first.append(rows[0])
            words.append(set(tokenize_stemmed(f"{name} {text}")))
            title.append(set(tokenize_stemmed(name)))
            size.append((len(rows), len(text)))
        held: dict[str, int] = {}
        for found in words:
            for word in found:
                held[word] = held.get(word, 0) + 1
        rarity = {word: math.log(len(words) / count) for word, count in held.items()}
        row = {id(doc): i for i, doc in enumerate(docs)}
        return cls(number, row, first, words, title, np.array(size, dtype=float), rarity)

    def coverage(self, asked: set[str], page: int) -> list[float]:
        """The share of the question's words the page holds, plain and by rarity; likewise its title."""
        weight = {word: self.rarity.get(word, math.log(len(self.words) * 2)) for word in asked}
        total = sum(weight.values()) or 1.0
        out = []
        for held in (self.words[page], self.title[page]):
            out += [len(asked & held) / max(len(asked), 1), sum(weight[w] for w in asked & held) / total]
        return out


@dataclass
class Rows:
    """A manual's rows: features, gold or not, which question, whether it steps back, and
    whether the question is a follow-up."""

    features: np.ndarray
    gold: np.ndarray
    question: np.ndarray
    back: np.ndarray
    followup: np.ndarray


def page_evidence(r: Retriever, q: Question) -> tuple[str, np.ndarray]:
    """The query as the chat searches it, and each page's standardised evidence, weighted,
    one column per signal (the six the default may weigh, 0 where one is absent)."""
    query = history_query(q.question, q.history)
    found = r._signals(query, r.bare_question(query, q.question))  # the seam bench/ reads evidence through
    if found is None:
        raise RuntimeError("the store changed while the probe ran")
    signals, weights, _ = found
    slots = [True, True, True, signals.question is not None, signals.outline is not None]
    slots.append(signals.hub_pages is not None)
    columns = iter(scaled_parts(r.page_groups(), signals, weights))
    evidence = np.zeros((len(r.page_groups().starts), SIGNALS))
    for slot, present in enumerate(slots):
        part = next(columns) if present else None
        if part is not None:
            evidence[:, slot] = part.weight * part.page_z
    if next(columns, None) is not None:  # a signal this probe does not know of
        raise RuntimeError("score fusion weighs more signals than the probe's columns")
    return query, evidence


def question_rows(r: Retriever, pages: Pages, q: Question) -> list[tuple[list[float], bool, bool]]:
    """The question's first DEPTH pages as the default orders them: features, gold, steps back."""
    query, evidence = page_evidence(r, q)
    hits = r.search(query, DEPTH, question=q.question)
    keys = dict.fromkeys(r.page_key(hit.document, pages.row[id(hit.document)]) for hit in hits)
    order = [pages.number[key] for key in keys]
    fused = evidence.sum(axis=1)
    # each page's rank in each signal, ties (pages without that evidence) sharing the best one
    ranks = np.column_stack([np.searchsorted(np.sort(-column), -column) for column in evidence.T])
    asked = set(tokenize_stemmed(q.question))
    notes_back = r.notes_back(query)
    out = []
    for rank, (key, page) in enumerate(zip(keys, order, strict=True)):
        features = [*evidence[page], fused[page], fused[order[0]] - fused[page], rank, math.log1p(rank)]
        features += pages.coverage(asked, page) + list(np.log1p(pages.size[page]))
        features += [math.log1p(ranks[page, s]) for s in range(SIGNALS)] + [float(group_of(q) == "followup")]
        out.append((features, is_gold(key, q.gold), r.steps_back(pages.first[page], notes_back)))
    return out


def manual_rows(name: str, embeddings: MemoEmbeddings) -> Rows | None:
    """Every answerable question's rows on the manual's saved `ours` index; None on a small
    site, where pages are not fused by score."""
    got = prepared(name, embeddings)
    if got is None:
        return None
    _, r = got
    pages = Pages.of(r)
    features, gold, question, back, followup = [], [], [], [], []
    for number, q in enumerate(questions_of(corpus(name))):
        if not q.gold:
            continue
        for row, is_gold_page, steps_back in question_rows(r, pages, q):
            features.append(row)
            gold.append(is_gold_page)
            question.append(number)
            back.append(steps_back)
            followup.append(group_of(q) == "followup")
    return Rows(
        np.asarray(features, dtype=float),
        np.asarray(gold),
        np.asarray(question),
        np.asarray(back),
        np.asarray(followup),
    )


def scores(rows: Rows, order_by: np.ndarray) -> dict[str, float]:
    """R@4, MRR (first 10) and follow-up R@4 with pages ordered by `order_by` (higher first),
    those that step back last."""
    single, followup, reciprocal = [], [], []
    for number in np.unique(rows.question):
        mine = rows.question == number
        order = np.lexsort((-order_by[mine], rows.back[mine]))
        found = np.flatnonzero(rows.gold[mine][order])
        rank = int(found[0]) + 1 if len(found) else None
        hit = rank is not None and rank <= 4
        if rows.followup[mine][0]:
            followup.append(hit)
        else:
            single.append(hit)
            reciprocal.append(1 / rank if rank and rank <= 10 else 0.0)
    row = {"R@4": float(np.mean(single)), "MRR": float(np.mean(reciprocal))}
    return row | ({"follow-up R@4": float(np.mean(followup))} if followup else {})


def held_out(manuals: dict[str, Rows], model: str) -> dict[str, dict[str, float]]:
    """Each manual reordered by `model` fitted on the others' rows (Python, the tuning set,
    only ever trains)."""
    out = {}
    for name, rows in manuals.items():
        if name == "python":
            continue
        others = [manuals[other] for other in manuals if other != name]
        fitted = MODELS[model]().fit(
            np.vstack([o.features for o in others]), np.concatenate([o.gold for o in others])
        )
        out[name] = scores(rows, fitted.predict_proba(rows.features)[:, 1])
    return out


def misses(manuals: dict[str, Rows]) -> dict[str, object]:
    """Where the default misses a single-turn question with its gold page among the first
    DEPTH: that page's mean features beside the mean of the first four pages'."""
    gold, first = [], []
    for rows in manuals.values():
        for number in np.unique(rows.question):
            mine = rows.question == number
            found = np.flatnonzero(rows.gold[mine])
            if rows.followup[mine][0] or not len(found) or found[0] < 4:
                continue
            gold.append(rows.features[mine][found[0]])
            first.append(rows.features[mine][:4].mean(axis=0))
    if not gold:
        return {}
    mean_gold, mean_first = np.mean(gold, axis=0), np.mean(first, axis=0)
    features = {
        name: {"gold": round(float(mean_gold[i]), 3), "first four": round(float(mean_first[i]), 3)}
        for i, name in enumerate(NAMES)
    }
    return {"questions": len(gold), "features": features}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--corpora", nargs="*", default=list(CORPORA))
    embeddings = MemoEmbeddings(LocalEmbeddings())
    manuals = {}
    for name in parser.parse_args().corpora:
        rows = manual_rows(name, embeddings)
        if rows is not None:
            manuals[name] = rows
            print(name, len(rows.gold), "rows", flush=True)
    default = {
        name: scores(rows, -rows.features[:, NAMES.index("rank")])
        for name, rows in manuals.items()
        if name != "python"
    }
    table = {"default": default} | {model: held_out(manuals, model) for model in MODELS}
    means = {
        label: {
            key: float(np.mean([row[key] for row in rows.values() if key in row]))
            for key in ("R@4", "MRR", "follow-up R@4")
        }
        for label, rows in table.items()
    }
    for label, mean in means.items():
        print(label, {k: round(v, 4) for k, v in mean.items()})
    profile = misses({name: rows for name, rows in manuals.items() if name != "python"})
    write_result("ltr-probe", {"depth": DEPTH, "rows": table, "means": means, "misses": profile})


if __name__ == "__main__":
    main()
