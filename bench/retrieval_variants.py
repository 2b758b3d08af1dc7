"""Ranking and chunking choices, chosen leave-one-manual-out.

    .venv/bin/python bench/retrieval_variants.py [--corpora python sqlite git flask django]
        [--chunkings ours recursive]

Works on the indexes bench/retrieval.py saved (bench/.cache/<manual>-ours.ragidx, the
default splitter; <manual>-notebook.ragidx, the notebook's own chunks) and on extra
chunkings built by common.corpus_index (`--chunkings recursive`). For every chunking ×
ranking setting (BM25 weight in the fusion, stemming, page titles as BM25 terms, best
chunk per page, RRF over pages, a penalty for hub chunks, the RRF constant k, a list of
pages by their centroid vectors, BM25 over chunks or over passages of 800-1600 characters)
it scores single-turn
recall@1/4/10, MRR and follow-up recall@4 on every manual. Then, for each manual, the
setting that does best on the *other* manuals is applied to it: that held-out number is
what this bench reports for the manual, so no manual's number comes from settings picked
on it. The setting best on all manuals is the candidate default. "Best" means: fewest R@4
losses to the notebook and notebook+RRF baselines (bench/retrieval.py's last run), then the
highest mean R@4, MRR and follow-up R@4. The second round's rule (fewest losses in R@4, MRR
or follow-up R@4 before the means) is judged beside it the same way, by what each picks for
the manual left out. `--rescore` chooses again from the saved grid; `--add --corpora A B`
measures only manuals A and B and adds them to it. Every setting fuses by rank (RRF); the
default fuses its setting's lists by score since issue 12's tenth round, measured against
rank fusion by bench/retrieval_probes.py (docs/decisions.md).
"""

from __future__ import annotations

import argparse
import itertools
import json
from functools import lru_cache

from common import (
    CACHE,
    CORPORA,
    RESULTS,
    corpus,
    corpus_index,
    machine,
    questions_of,
    summary_row,
    write_result,
)

from rag import retrieval
from rag.embeddings.local import LocalEmbeddings
from rag.evaluation import evaluate
from rag.retrieval import Centroids, Retriever, history_query, hubness, lexical_index
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
    "page_weight": (0.0, 0.25, 0.5),
    "passage_chars": (None, 800, 1200, 1600),
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
        if s["passage_chars"] and not s["page_rrf"]:
            continue  # a fusion of chunks scores chunks (Retriever.passage_size)
        out.append(s)
    return out


def default_setting() -> dict:
    """The app's default ranking, in the grid's terms (a setting in the grid)."""
    return {key: getattr(retrieval, key.upper()) for key in GRID}


def label(chunking: str, s: dict) -> str:
    parts = [chunking, f"bm25 {s['lexical_weight']}"]
    parts += ["stemmed"] if s["stem"] else []
    parts += ["title terms"] if s["title_terms"] else []
    parts += ["page RRF"] if s["page_rrf"] else (["1 per page"] if s["per_page"] == 1 else [])
    parts += [f"hub {s['hub_penalty']}"] if s["hub_penalty"] else []
    parts += [f"rrf k {s['rrf_k']}"] if s["rrf_k"] != 60 else []
    parts += [f"page vectors {s['page_weight']}"] if s.get("page_weight") else []
    parts += [f"passages {s['passage_chars']}"] if s.get("passage_chars") else []
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
        (stem, title, chars): lexical_index(store.documents, stem, title, chars)
        for stem in (False, True)
        for title in (False, True)
        for chars in GRID["passage_chars"]
    }
    for bm25 in shared_bm25.values():
        memoize(bm25, "ranked", lambda query, depth: (query, depth))
    shared_hub = hubness(store.vectors)
    shared_centroids = {h: Centroids.of(store, h) for h in GRID["hub_penalty"]}
    rows = []
    for s in settings:
        retriever = Retriever(store, fusion="rank", **s)  # the grid's settings are rank fusion's
        retriever.adopt(
            shared_bm25[(s["stem"], s["title_terms"], retriever.passage_size())],
            shared_hub,
            shared_centroids[s["hub_penalty"]],
        )
        report = evaluate(
            questions,
            lambda q, r=retriever: [
                h.document.metadata["source"]
                for h in r.search(history_query(q.question, q.history), 10, question=q.question)
            ],
        )
        rows.append(summary_row(report))
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


def losses(scores: dict[str, dict], manual: str, base: dict | None) -> tuple[int, int]:
    """How many times a setting loses to the manual's baselines: in R@4, and in any of R@4,
    MRR and follow-up R@4."""
    ours = (scores[manual]["R@4"], scores[manual]["MRR"], scores[manual]["follow-up R@4"])
    r4 = anything = 0
    for theirs in (base or {}).get(manual, {}).values():
        lost = [o < t - 1e-9 for o, t in zip(ours, theirs, strict=True)]
        r4, anything = r4 + lost[0], anything + sum(lost)
    return r4, anything


def _means(scores: dict[str, dict], manuals: list[str]) -> tuple[float, float, float]:
    n = len(manuals)
    return tuple(  # type: ignore[return-value]
        round(sum(scores[m][key] for m in manuals) / n, 6) for key in ("R@4", "MRR", "follow-up R@4")
    )


def objective(scores: dict[str, dict], manuals: list[str], base: dict | None = None) -> tuple:
    """The rule the default is chosen by: fewest R@4 losses to a baseline, then the highest
    mean single-turn R@4, MRR and follow-up R@4 over `manuals`."""
    return (-sum(losses(scores, m, base)[0] for m in manuals), *_means(scores, manuals))


def objective_any_loss(scores: dict[str, dict], manuals: list[str], base: dict | None = None) -> tuple:
    """The second round's rule: fewest R@4 losses, then fewest losses of any kind (R@4, MRR,
    follow-up R@4), then the means. Kept to compare: it does worse held out."""
    counts = [losses(scores, m, base) for m in manuals]
    return (-sum(c[0] for c in counts), -sum(c[1] for c in counts), *_means(scores, manuals))


RULES = {"R@4 losses, then means": objective, "any loss, then means": objective_any_loss}


def leave_one_out(
    grid: dict[str, dict[str, dict]], manuals: list[str], base: dict | None = None, rule=objective
) -> dict:
    """For each manual: the setting best on the others by `rule`, and its score on this one."""
    out: dict[str, dict] = {}
    for held in manuals if len(manuals) > 1 else []:
        others = [m for m in manuals if m != held]
        best = max(grid, key=lambda name: rule(grid[name], others, base))
        r4_lost, lost = losses(grid[best], held, base)
        out[held] = {"setting": best, **grid[best][held], "losses (R@4, any)": [r4_lost, lost]}
    return out


def _summed(held: dict[str, dict]) -> list[int]:
    """The losses of every fold's pick on its held-out manual: in R@4, and in anything."""
    return [sum(row["losses (R@4, any)"][i] for row in held.values()) for i in (0, 1)]


def compare_rules(grid: dict[str, dict[str, dict]], manuals: list[str], base: dict) -> dict:
    """Each rule judged the way a setting is: by what it picks for a manual it did not see."""
    out = {}
    for name, rule in RULES.items():
        held = leave_one_out(grid, manuals, base, rule)
        r4 = [row["R@4"] for row in held.values()]
        out[name] = {
            "held-out mean R@4": round(sum(r4) / len(r4), 4),
            "held-out minimum R@4": min(r4),
            "held-out losses (R@4, any)": _summed(held),
        }
    return out


def measure_all(corpora: list[str], chunkings: list[str]) -> dict[str, dict[str, dict]]:
    embeddings = MemoEmbeddings(LocalEmbeddings())
    settings = settings_grid()
    grid: dict[str, dict[str, dict]] = {}
    for name in corpora:
        questions = questions_of(corpus(name))
        for chunking in chunkings:
            store = load_store(name, chunking, embeddings)
            for s, row in zip(settings, measure(store, questions, settings), strict=True):
                grid.setdefault(label(chunking, s), {})[name] = row
            print(f"{name} / {chunking}: {len(store)} chunks measured", flush=True)
    return grid


def added(result: str, corpora: list[str], chunkings: list[str]) -> tuple[dict, list[str]]:
    """The saved grid with `corpora` measured (again) and merged in: a new manual costs its
    own measurement, not the whole grid's. Every saved row is kept; what is scored is the
    settings measured on every manual."""
    saved = json.loads((RESULTS / f"{result}.json").read_text())
    grid: dict[str, dict[str, dict]] = saved["grid"]
    for setting, rows in saved.get("incomplete", {}).items():
        grid.setdefault(setting, {}).update(rows)
    for setting, rows in measure_all(corpora, chunkings).items():
        grid.setdefault(setting, {}).update(rows)
    manuals = [m for m in saved["manuals"] if m not in corpora] + corpora
    return grid, manuals


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--corpora", nargs="*", default=list(CORPORA))
    parser.add_argument("--chunkings", nargs="*", default=["ours"])
    parser.add_argument("--result", default="retrieval-variants", help="result file name")
    parser.add_argument(
        "--rescore", action="store_true", help="choose again from the result file's grid, measuring nothing"
    )
    parser.add_argument(
        "--add", action="store_true", help="measure only --corpora and add them to the result file's grid"
    )
    args = parser.parse_args()
    path, today = RESULTS / f"{args.result}.json", str(machine()["date"])
    saved = json.loads(path.read_text()) if path.exists() and (args.rescore or args.add) else {}
    measured: dict[str, str] = saved.get("measured", {})  # when each manual's rows were measured
    incomplete: dict[str, dict[str, dict]] = {}
    if args.rescore:
        grid, manuals, base = saved["grid"], saved["manuals"], saved["baselines"]
    elif args.add:
        everything, manuals = added(args.result, args.corpora, args.chunkings)
        grid = {name: rows for name, rows in everything.items() if all(m in rows for m in manuals)}
        incomplete = {name: rows for name, rows in everything.items() if name not in grid}
        measured.update(dict.fromkeys(args.corpora, today))
        base = baselines(manuals)
    else:
        grid, manuals = measure_all(args.corpora, args.chunkings), args.corpora
        measured = dict.fromkeys(manuals, today)
        base = baselines(manuals)
    lomo = leave_one_out(grid, manuals, base)
    best_all = max(grid, key=lambda n: objective(grid[n], manuals, base))
    for held, row in lomo.items():
        print(held, row, flush=True)
    print("best on all manuals:", best_all, grid[best_all])
    rules = compare_rules(grid, manuals, base)
    print("rules held out:", rules)
    data = {
        "manuals": manuals,
        "grid": grid,
        "baselines": base,
        "leave_one_out": lomo,
        "best_on_all": best_all,
        "default": label("ours", default_setting()),
        "rules": rules,
        "measured": measured,
        **({"incomplete": incomplete} if incomplete else {}),
    }
    print(f"written to {write_result(args.result, data)}")


if __name__ == "__main__":
    main()
