"""`search` and `eval`: retrieval alone, for one query, a file of queries, or a scored question set.

`search --queries-file F --json` prints one JSON line per question and `eval --json`
one report: scripts outside this repository read both, so their formats stay as they are.
"""

from __future__ import annotations

import argparse
import json
from typing import Any

from ..errors import InputError
from .common import hit_json, open_chains, questions
from .parser import settings_from


def cmd_search(args: argparse.Namespace) -> int:
    from ..evaluation import load_questions

    if bool(args.query) == bool(args.queries_file):
        raise InputError("Give either a QUERY or --queries-file F.")
    settings = settings_from(args)
    rag, _ = open_chains(args, settings)
    if args.query:
        query, _, hits = rag.retrieve(args.query, k=args.k)
        if args.json:
            print(json.dumps({"query": query, "hits": [hit_json(h) for h in hits]}, ensure_ascii=False))
        else:
            for i, hit in enumerate(hits, 1):
                meta = hit.document.metadata
                print(f"{i}. [{hit.score:.4f}] {meta.get('title', '')}\n   {meta.get('source', '')}")
                print("   " + hit.document.page_content[:300].replace("\n", "\n   ") + "\n")
        return 0
    for q in load_questions(args.queries_file):
        query, _rewritten, hits = rag.retrieve(q.question, q.history, k=args.k)
        line = {"id": q.id, "query": query, "hits": [hit_json(h) for h in hits]}
        print(json.dumps(line, ensure_ascii=False), flush=True)
    return 0


def cmd_eval(args: argparse.Namespace) -> int:
    from ..evaluation import KS, evaluate

    settings = settings_from(args)
    asked = questions(args.questions)  # a bad file is refused before the index is opened
    rag, _ = open_chains(args, settings)
    ks = sorted({*KS, args.k})  # recall@1/4/10, and @k when -k asks for another depth

    def search(q: Any) -> list[str]:
        _, _, hits = rag.retrieve(q.question, q.history, k=max(ks))
        return [h.document.metadata.get("source", "") for h in hits]

    report = evaluate(asked, search, ks)
    if args.json:
        print(json.dumps(report, indent=1))
    else:
        _print_eval(report, ks)
    return 0


def _print_eval(report: dict[str, Any], ks: list[int]) -> None:
    print(f"{'group':<12} {'n':>3} " + " ".join(f"{'R@' + str(k):>6}" for k in ks) + f" {'MRR':>6}")
    rows = [
        ("all", report["overall"]),
        *report["groups"].items(),
        *(("kind:" + k, v) for k, v in report["kinds"].items()),
    ]
    for name, s in rows:
        print(
            f"{name:<12} {s['n']:>3} "
            + " ".join(f"{s[f'recall@{k}']:>6.3f}" for k in ks)
            + f" {s['mrr']:>6.3f}"
        )
