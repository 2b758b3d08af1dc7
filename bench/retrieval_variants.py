"""Ranking and chunking choices, chosen leave-one-manual-out.

    .venv/bin/python bench/retrieval_variants.py [--corpora python sqlite git flask django]
        [--chunkings ours recursive]

Works on the indexes bench/retrieval.py saved (bench/.cache/<manual>-ours.ragidx, the
default splitter; <manual>-notebook.ragidx, the notebook's own chunks) and on extra
chunkings built by common.corpus_index (`--chunkings recursive`). For every chunking ×
ranking setting (BM25 weight in the fusion, stemming, page titles as BM25 terms, best
chunk per page, RRF over pages, a penalty for hub chunks, the RRF constant k) it scores single-turn
recall@1/4/10, MRR and follow-up recall@4 on every manual. Then, for each manual, the
setting that does best on the *other* manuals is applied to it: that held-out number is
what this bench reports for the manual, so no manual's number comes from settings picked
on it. The setting best on all
manuals is the candidate default. "Best" means: fewest losses to the notebook and
notebook+RRF baselines (bench/retrieval.py's last run) in R@4, then in R@4, MRR and follow-up
R@4 together, then the highest mean R@4, MRR and follow-up R@4.
"""

from __future__ import annotations

import argparse
import itertools
import json
from functools import lru_cache

from common import CACHE, CORPORA, RESULTS, corpus, corpus_index, write_result

from rag.embeddings.local import LocalEmbeddings
from rag.evaluation import evaluate, load_questions
from rag.lexical import BM25
from rag.retrieval import Retriever, bm25_texts, history_query, hubness
from rag.store import SKLearnStore

EMBEDDER = "local:all-MiniLM-L6-v2"
GRID = {
    "lexical_weight": (0.5, 1.0),
    "stem": (False, True),
    "title_terms": (False, True),
    "per_page": (None, 1),
    "page_rrf": (False, True),
    "hub_penalty": (0.0, 0.1, 0.25, 0.5, 1.0),
    "rrf_k": (20, 60),
}


class MemoEmbeddings:
    """The query embedder, remembering its answers (every setting asks the same queries)."""

    def __init__(self, inner: LocalEmbeddings) -> None:
        self.inner = inner
        self.embed_query = lru_cache(maxsize=None)(inner.embed_query)

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        return self.inner.embed_documents(texts)


def settings_grid() -> list[dict]:
    keys = list(GRID)
    out = []
    for values in itertools.product(*GRID.values()):
        s = dict(zip(keys, values, strict=True))
        if s["page_rrf"] and s["per_page"] is None:
            continue  # RRF over pages only makes sense returning one chunk a page
        out.append(s)
    return out


def label(chunking: str, s: dict) -> str:
    parts = [chunking, f"bm25 {s['lexical_weight']}"]
    parts += ["stemmed"] if s["stem"] else []
    parts += ["title terms"] if s["title_terms"] else []
    parts += ["page RRF"] if s["page_rrf"] else (["1 per page"] if s["per_page"] == 1 else [])
    parts += [f"hub {s['hub_penalty']}"] if s["hub_penalty"] else []
    parts += [f"rrf k {s['rrf_k']}"] if s["rrf_k"] != 60 else []
    return ", ".join(parts)


def load_store(name: str, chunking: str, embeddings: MemoEmbeddings) -> SKLearnStore:
    path = CACHE / f"{name}-{chunking}.ragidx"
    if not path.exists():
        path = corpus_index(name, chunking, whole=False)
    return SKLearnStore.load(path, embeddings, EMBEDDER)  # type: ignore[arg-type]


def memoize(obj, method: str, key) -> None:
    """Replace obj.method by a memo (every setting repeats the same searches)."""
    inner, memo = getattr(obj, method), {}

    def wrapper(*args):
        k = key(*args)
        if k not in memo:
            memo[k] = inner(*args)
        return list(memo[k]) if isinstance(memo[k], list) else memo[k]

    setattr(obj, method, wrapper)


def measure(store: SKLearnStore, questions, settings: list[dict]) -> list[dict]:
    """Scores of every setting on one store; BM25 and hubness are built once per store,
    vector and BM25 searches are remembered across settings."""
    memoize(store, "search_vector", lambda vector, k: (vector.tobytes(), k))
    shared_bm25 = {
        (stem, title): BM25(bm25_texts(store.documents, title), stem=stem)
        for stem in (False, True)
        for title in (False, True)
    }
    for bm25 in shared_bm25.values():
        memoize(bm25, "scores", lambda query: query)
    shared_hub = hubness(store.vectors)
    rows = []
    for s in settings:
        retriever = Retriever(store, **s)
        retriever.page_cap()  # counts the pages before the shared parts are handed over
        retriever._bm25 = shared_bm25[(s["stem"], s["title_terms"])]
        retriever._hubness, retriever._size = shared_hub, len(store)
        report = evaluate(
            questions,
            lambda q, r=retriever: [
                h.document.metadata["source"] for h in r.search(history_query(q.question, q.history), 10)
            ],
        )
        single, follow = report["groups"]["single"], report["groups"].get("followup", {})
        rows.append(
            {
                "R@1": single["recall@1"],
                "R@4": single["recall@4"],
                "R@10": single["recall@10"],
                "MRR": single["mrr"],
                "follow-up R@4": follow.get("recall@4", 0.0),
            }
        )
    return rows


def baselines(manuals: list[str]) -> dict[str, dict[str, tuple[float, float, float]]]:
    """Each manual's notebook and notebook+RRF scores (R@4, MRR, follow-up R@4) from the
    last bench/retrieval.py run: a setting must not lose to either of them."""
    out: dict[str, dict[str, tuple[float, float, float]]] = {}
    for name in manuals:
        path = RESULTS / f"retrieval-{name}.json"
        results = json.loads(path.read_text())["results"] if path.exists() else {}
        out[name] = {}
        for pipeline in ("notebook", "notebook+RRF"):
            if pipeline in results:
                single = results[pipeline]["groups"]["single"]
                follow = results[pipeline]["groups"].get("followup", {})
                out[name][pipeline] = (single["recall@4"], single["mrr"], follow.get("recall@4", 0.0))
    return out


def objective(scores: dict[str, dict], manuals: list[str], base: dict | None = None) -> tuple:
    """Fewest R@4 losses to a baseline, then fewest losses of any kind (R@4, MRR, follow-up
    R@4), then mean single-turn R@4, MRR and follow-up R@4 over `manuals`."""
    losses = [0, 0]
    for m in manuals:
        ours = (scores[m]["R@4"], scores[m]["MRR"], scores[m]["follow-up R@4"])
        for theirs in (base or {}).get(m, {}).values():
            lost = [o < t - 1e-9 for o, t in zip(ours, theirs, strict=True)]
            losses[0] += lost[0]
            losses[1] += sum(lost)
    n = len(manuals)
    return (
        -losses[0],
        -losses[1],
        round(sum(scores[m]["R@4"] for m in manuals) / n, 6),
        round(sum(scores[m]["MRR"] for m in manuals) / n, 6),
        round(sum(scores[m]["follow-up R@4"] for m in manuals) / n, 6),
    )


def leave_one_out(grid: dict[str, dict[str, dict]], manuals: list[str], base: dict | None = None) -> dict:
    """For each manual: the setting best on the others, and its score on this one."""
    out: dict[str, dict] = {}
    for held in manuals if len(manuals) > 1 else []:
        others = [m for m in manuals if m != held]
        best = max(grid, key=lambda name: objective(grid[name], others, base))
        out[held] = {"setting": best, **grid[best][held]}
    return out


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--corpora", nargs="*", default=list(CORPORA))
    parser.add_argument("--chunkings", nargs="*", default=["ours"])
    parser.add_argument("--result", default="retrieval-variants", help="result file name")
    args = parser.parse_args()
    embeddings = MemoEmbeddings(LocalEmbeddings())
    settings = settings_grid()
    grid: dict[str, dict[str, dict]] = {}
    for name in args.corpora:
        questions = load_questions(corpus(name).questions)
        for chunking in args.chunkings:
            store = load_store(name, chunking, embeddings)
            for s, row in zip(settings, measure(store, questions, settings), strict=True):
                grid.setdefault(label(chunking, s), {})[name] = row
            print(f"{name} / {chunking}: {len(store)} chunks measured", flush=True)
    base = baselines(args.corpora)
    lomo = leave_one_out(grid, args.corpora, base)
    best_all = max(grid, key=lambda n: objective(grid[n], args.corpora, base))
    for held, row in lomo.items():
        print(held, row, flush=True)
    print("best on all manuals:", best_all, grid[best_all])
    data = {
        "manuals": args.corpora,
        "grid": grid,
        "baselines": base,
        "leave_one_out": lomo,
        "best_on_all": best_all,
    }
    print(f"written to {write_result(args.result, data)}")


if __name__ == "__main__":
    main()
