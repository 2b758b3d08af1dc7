"""Anchor text (the words of links pointing at a page) as further evidence; not in the app.

    .venv/bin/python bench/anchor_probe.py [--corpora zsh cmake ...] [--weights 0,0.25 0.25,0]

On each manual's saved `ours` index (bench/retrieval.py, run it first) it reads every
served page's links (bench/common.page_paths) from the manual's files and keeps, for each
page, the distinct texts of links to it from other pages (a text linked from more than 5%
of the pages is site furniture and dropped; an index page's entries, "history, sharing",
are kept). Two more
signals join score fusion, per page: BM25 over those texts and the query's best similarity
to one of them, at the weights given ("BM25,vector"). Each row is scored beside the
default in the same run, as bench/retrieval_probes.py does (issue 12, thirteenth round:
docs/decisions.md). Results: bench/results/anchor-probe.json.
"""

from __future__ import annotations

import argparse
from collections import defaultdict
from dataclasses import replace
from typing import Any
from urllib.parse import unquote, urljoin, urlsplit

import lxml.html
import numpy as np
from common import CACHE, CORPORA, corpus, page_paths, questions_of, summary_row, write_result
from retrieval_probes import default_search
from retrieval_variants import EMBEDDER, MemoEmbeddings

from rag.embeddings.local import LocalEmbeddings
from rag.evaluation import evaluate
from rag.lexical import BM25
from rag.retrieval import Retriever, history_query
from rag.score_fusion import Signals
from rag.store import SKLearnStore

BASE = "http://site.invalid/"


def anchors(c: Any, furniture: float = 0.05) -> dict[str, list[str]]:
    """Per target page (its path, unquoted): the distinct texts of links from other pages."""
    by_target: dict[str, set[str]] = defaultdict(set)
    pages_using: dict[str, set[str]] = defaultdict(set)
    served = page_paths(c)
    for rel in served:
        try:
            tree = lxml.html.parse(str(c.root / rel))
        except Exception:
            continue
        for a in tree.getroot().iter("a") if tree.getroot() is not None else ():
            href = a.get("href")
            if not href:
                continue
            text = " ".join(a.text_content().split())
            if len(text) < 3 or text.startswith(("http:", "https:", "mailto:")):
                continue
            try:
                target = urlsplit(urljoin(BASE + rel, href))
            except ValueError:  # a link that is no address ("ftp://[user@]machine/path")
                continue
            if target.netloc != "site.invalid":
                continue
            dest = unquote(target.path[1:])
            if dest == rel:
                continue
            key = text.lower()
            pages_using[key].add(rel)
            by_target[dest].add(key)
    limit = max(5, furniture * len(served))
    return {t: sorted(k for k in texts if len(pages_using[k]) <= limit) for t, texts in by_target.items()}


class AnchorRetriever(Retriever):
    """The default with the anchor-text signals fused in at `weights` (BM25, vector)."""

    def __init__(self, store: SKLearnStore, evidence: AnchorEvidence, weights: tuple[float, float]) -> None:
        super().__init__(store)
        self.evidence, self.anchor_weights = evidence, weights

    def _signals(self, query: str, question: str | None) -> tuple[Signals, list[float], np.ndarray] | None:
        found = super()._signals(query, question)
        if found is None:
            return None
        signals, weights, similarity = found
        lexical, vector = self.evidence.row_scores(query, self.embed_query(query))
        more = replace(signals, more=((lexical, "lexical"), (vector, "page")))
        return more, [*weights, *self.anchor_weights], similarity


class AnchorEvidence:
    def __init__(self, store: SKLearnStore, found: dict[str, list[str]], embeddings: MemoEmbeddings) -> None:
        docs = store.documents
        rel = [unquote(urlsplit(d.metadata.get("url", "")).path[1:]) for d in docs]
        pages = sorted(set(rel))
        self.page_index = {p: i for i, p in enumerate(pages)}
        self.row_page = np.array([self.page_index[r] for r in rel])
        texts = [found.get(p, []) for p in pages]
        self.bm25 = BM25(["\n".join(t) for t in texts])
        flat = [(i, t) for i, ts in enumerate(texts) for t in ts]
        self.owner = np.array([i for i, _ in flat], dtype=np.int64)
        self.n_pages = len(pages)
        vecs = embeddings.embed_documents([t for _, t in flat]) if flat else []
        self.vectors = np.asarray(vecs, dtype=np.float32).reshape(len(flat), -1)
        self.with_anchor = np.array([bool(t) for t in texts])

    def row_scores(self, query: str, vector: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        lex = self.bm25.scores(query)
        best = np.full(self.n_pages, -np.inf, dtype=np.float32)
        if len(self.vectors):
            np.maximum.at(best, self.owner, self.vectors @ vector)
        return lex[self.row_page], best[self.row_page]


def searches(name: str, store: SKLearnStore, embeddings: MemoEmbeddings, weights: list[str]) -> dict:
    """The default and each anchor-text row, on one manual's saved index."""
    ours = Retriever(store)
    ours.prepare()
    evidence = AnchorEvidence(store, anchors(corpus(name)), embeddings)
    texts = len(evidence.vectors)
    print(name, "pages", evidence.n_pages, "with anchors", int(evidence.with_anchor.sum()), "texts", texts)
    runs = {"default": default_search(ours)}
    for pair in weights:
        lexical, vector = (float(x) for x in pair.split(","))
        probe = AnchorRetriever(store, evidence, (lexical, vector))
        probe.adopt(ours.bm25(), ours.hubness(), ours.centroids())
        runs[f"anchor-{pair}"] = default_search(probe)
    return runs


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--corpora", nargs="*", default=list(CORPORA))
    parser.add_argument("--weights", nargs="*", default=["0.25,0", "0,0.25"])
    args = parser.parse_args()
    embeddings = MemoEmbeddings(LocalEmbeddings())
    rows: dict[str, dict[str, dict]] = {}
    for name in args.corpora:
        store = SKLearnStore.load(CACHE / f"{name}-ours.ragidx", embeddings, EMBEDDER)  # type: ignore[arg-type]
        questions = questions_of(corpus(name))
        for label, search in searches(name, store, embeddings, args.weights).items():
            report = evaluate(questions, lambda q, s=search: s(history_query(q.question, q.history), q))
            rows.setdefault(label, {})[name] = summary_row(report)
            print(name, label, rows[label][name], flush=True)
        write_result("anchor-probe", {"manuals": args.corpora, "rows": rows})


if __name__ == "__main__":
    main()
