"""`compare`: RAG and the model alone on a question set, scored; Ctrl-C keeps what is finished."""

from __future__ import annotations

import argparse
import contextlib
import json
import signal
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from ..errors import RagError
from .common import open_chains, questions
from .parser import settings_from

# The summary table's columns: heading → key of `rag.compare.summarise`.
COLUMNS = {
    "RAG errors": "rag_errors",
    "raw errors": "raw_errors",
    "RAG cov": "rag_coverage",
    "raw cov": "raw_coverage",
    "RAG all": "rag_all_keys",
    "raw all": "raw_all_keys",
    "gold cited": "rag_cited_gold",
    "RAG idk": "rag_abstained_unanswerable",
    "raw made up": "raw_invented_unanswerable",
    "RAG s": "rag_total_s",
    "raw s": "raw_total_s",
}


def cmd_compare(args: argparse.Namespace) -> int:
    from ..compare import nothing_measured, run_comparison
    from ..llms import make_target

    settings = settings_from(args)
    asked = questions(args.questions)[: args.limit]  # checked before any model is asked
    rag, raw = open_chains(args, settings)
    judge = make_target(args.judge, settings) if args.judge else None
    results = []
    cancel = threading.Event()
    with _ctrl_c_sets(cancel):
        for i, result in enumerate(
            run_comparison(rag, raw, asked, judge=judge, judge_model=args.judge_model, cancel=cancel), 1
        ):
            results.append(result)
            print(f"[{i}/{len(asked)}] {_progress_line(result)}", file=sys.stderr, flush=True)
    if cancel.is_set():
        print(f"stopped: {len(results)} of {len(asked)} questions scored.", file=sys.stderr)
    _output(args, results)
    if cancel.is_set():
        return 130
    failure = nothing_measured(results)
    if failure:
        raise RagError(failure)
    return 0


def _progress_line(result: Any) -> str:
    def cov(scores: Any) -> str:
        return "error" if scores.error else "-" if result.unanswerable else f"{scores.coverage:.2f}"

    def secs(scores: Any) -> str:
        return "error" if scores.error else f"{scores.total_s or 0:.1f} s"

    return (
        f"{result.id} ({result.kind}) coverage RAG vs raw: {cov(result.rag)} vs {cov(result.raw)} "
        f"({secs(result.rag)} / {secs(result.raw)})"
    )


@contextlib.contextmanager
def _ctrl_c_sets(cancel: threading.Event) -> Iterator[None]:
    """Ctrl-C stops a long run cleanly: the answers in flight end, the finished results
    are printed and saved. A second Ctrl-C interrupts as usual."""

    def stop(signum: int, frame: Any) -> None:
        cancel.set()
        signal.signal(signal.SIGINT, signal.default_int_handler)

    previous = signal.signal(signal.SIGINT, stop)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


def _output(args: argparse.Namespace, results: list) -> None:
    from ..compare import to_csv, to_json

    if args.csv:
        _write(args.csv, to_csv(results))
    if args.json:
        print(json.dumps(to_json(results), indent=1, ensure_ascii=False))
    else:
        _print_table(results)


def _write(path: str, text: str) -> None:
    try:
        Path(path).write_text(text, encoding="utf-8")
    except OSError as exc:
        raise RagError(f"Cannot write {path} ({exc.strerror}).", "Give --csv a writable path.") from None


def _print_table(results: list) -> None:
    from ..compare import summarise

    print(f"{'kind':<13} {'n':>3} " + " ".join(f"{h:>11}" for h in COLUMNS))
    for kind, row in summarise(results).items():
        cells = (
            "-" if row[key] is None else f"{row[key]}" if key.endswith("errors") else f"{row[key]:.2f}"
            for key in COLUMNS.values()
        )
        print(f"{kind:<13} {row['n']:>3} " + " ".join(f"{c:>11}" for c in cells))
    if any(r.rag.error or r.raw.error for r in results):
        print("Failed answers count as errors and are left out of every rate.")
