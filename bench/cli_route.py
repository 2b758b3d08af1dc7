"""The private check's own route, end to end: `python -m rag index --urls-file` and
`python -m rag search --queries-file ... --json`, run as commands, scored from their output.

    .venv/bin/python bench/cli_route.py [--corpus click xapian ...]

bench/retrieval.py scores `ours` by calling the library (`index_pages(Settings())`, then
`Retriever(store).search`); issue 12's private manual is scored through the command line.
This runs the commands as a user would (an environment of PATH, HOME and PYTHONPATH
alone, so no RAG_* setting leaks in), with every page of the manual served on loopback, and scores their
JSON with its own few lines: a question's rank is the first hit whose page (its URL's path
below the server, without the fragment) is a gold page. The ranks are then set beside the
`ours` row of bench/results/retrieval-<manual>.json, question by question. Different
ranks mean the library route the benchmark measures is not the route the check runs.
Results: bench/results/cli-route.json; a run on some manuals keeps the others' rows.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from urllib.parse import urlsplit

from common import RESULTS, ROOT, SINCE_TWENTY_FIRST, corpus, page_urls, questions_of, serve, write_result

K = 10
# Small manuals (every page is embedded afresh), setuptools for a gold page whose file name
# holds spaces ("python 2 sunset.html"), gettext and flex for two that are not Sphinx; and
# every manual added since the twenty-first round.
DEFAULT = ("markdown", "click", "xapian", "pymongo", "setuptools", "gettext", "flex", "psycopg2")
DEFAULT += SINCE_TWENTY_FIRST


def rag_command(*args: str) -> str:
    """One `python -m rag` command's stdout; its stderr is shown if it fails."""
    env = {key: os.environ[key] for key in ("PATH", "HOME") if key in os.environ}
    env["PYTHONPATH"] = str(ROOT)
    done = subprocess.run(
        [sys.executable, "-m", "rag", *args], cwd=ROOT, env=env, capture_output=True, text=True
    )
    if done.returncode:
        sys.exit(f"python -m rag {args[0]} failed ({done.returncode}):\n{done.stderr[-3000:]}")
    return done.stdout


def page(url: str, base: str) -> str:
    """A hit's page below the served root: the URL's path, without the fragment."""
    return urlsplit(url).path[len(urlsplit(base).path) :].lstrip("/")


def rank_of(hits: list[dict], gold: list[str], base: str) -> int | None:
    for rank, hit in enumerate(hits, 1):
        if page(hit["source"], base) in gold:
            return rank
    return None


def run_manual(name: str, work: Path) -> dict:
    c = corpus(name)
    asked = [q for q in questions_of(c) if q.gold]
    queries = work / f"{name}-queries.jsonl"
    queries.write_text(
        "".join(json.dumps({"id": q.id, "question": q.question, "history": q.history}) + "\n" for q in asked)
    )
    index = work / f"{name}.ragidx"
    with serve(c) as site:
        urls = work / f"{name}-urls.txt"
        urls.write_text("\n".join(page_urls(site.url, c)) + "\n")
        started = time.perf_counter()
        summary = json.loads(
            rag_command("index", "--urls-file", str(urls), "--save", str(index), "--json", "--quiet")
        )
        summary.pop("saved", None)  # a temporary path
        indexed_s = time.perf_counter() - started
        out = rag_command(
            "search", "--queries-file", str(queries), "--index", str(index), "-k", str(K), "--json"
        )
        lines = {row["id"]: row for row in map(json.loads, out.splitlines())}
        ranks = {q.id: rank_of(lines[q.id]["hits"], q.gold, site.url) for q in asked}
    return {"index": summary, "index_s": round(indexed_s, 1), **compared(name, asked, ranks)}


def compared(name: str, asked: list, ranks: dict[str, int | None]) -> dict:
    """The route's scores, and its ranks beside the benchmark's `ours` row."""
    bench = json.loads((RESULTS / f"retrieval-{name}.json").read_text())["results"]["ours"]
    theirs = {row["id"]: row["rank"] for row in bench["questions"]}
    single = [ranks[q.id] for q in asked if q.kind != "followup"]
    follow = [ranks[q.id] for q in asked if q.kind == "followup"]
    differ = {qid: {"cli": r, "bench": theirs.get(qid)} for qid, r in ranks.items() if theirs.get(qid) != r}
    return {
        "questions": len(asked),
        "single": {"n": len(single), "recall@4": recall(single, 4), "mrr": mrr(single)},
        "followup": {"n": len(follow), "recall@4": recall(follow, 4)},
        "bench ours": {
            "single recall@4": bench["groups"]["single"]["recall@4"],
            "single mrr": bench["groups"]["single"]["mrr"],
            "followup recall@4": bench["groups"].get("followup", {}).get("recall@4"),
        },
        "same ranks": len(ranks) - len(differ),
        "different ranks": differ,
    }


def recall(ranks: list[int | None], k: int) -> float:
    return round(sum(1 for r in ranks if r is not None and r <= k) / len(ranks), 4) if ranks else 0.0


def mrr(ranks: list[int | None]) -> float:
    return round(sum(1 / r for r in ranks if r) / len(ranks), 4) if ranks else 0.0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--corpus", nargs="+", default=list(DEFAULT))
    args = parser.parse_args()
    path = RESULTS / "cli-route.json"
    rows = json.loads(path.read_text())["manuals"] if path.exists() else {}
    with tempfile.TemporaryDirectory() as tmp:
        for name in args.corpus:
            rows[name] = run_manual(name, Path(tmp))
            write_result("cli-route", {"manuals": rows})  # a later manual's failure keeps this one
            row, bench = rows[name], rows[name]["bench ours"]
            print(
                f"{name}: single R@4 {row['single']['recall@4']} (bench {bench['single recall@4']}), "
                f"same ranks {row['same ranks']}/{row['questions']}",
                flush=True,
            )
    print(write_result("cli-route", {"manuals": rows}))


if __name__ == "__main__":
    main()
