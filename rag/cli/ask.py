"""`ask`: one question answered with RAG, streamed; with `--compare`, the model alone beside it."""

from __future__ import annotations

import argparse
import json
from dataclasses import asdict
from pathlib import Path
from typing import Any

from ..errors import InputError, RagError
from .common import open_chains
from .parser import settings_from


def read_history(path: str | None) -> list[dict[str, str]]:
    """The conversation so far, from a JSON array or JSON Lines file of {role, content} turns."""
    if not path:
        return []
    try:
        text = Path(path).read_text(encoding="utf-8").strip()
    except OSError as exc:
        raise InputError(f"Cannot read the history file {path} ({exc.strerror}).") from None
    try:
        history = (
            json.loads(text)
            if text.startswith("[")
            else [json.loads(line) for line in text.splitlines() if line.strip()]
        )
    except ValueError:
        raise InputError(f"{path} is not JSON.", 'Write [{"role": "user", "content": "..."}, ...].') from None
    if not all(isinstance(m, dict) and "role" in m and "content" in m for m in history):
        raise InputError(f"{path}: every message needs a role and a content.")
    return history


def print_answer(title: str, answer: Any) -> None:
    t = answer.timings
    print(f"== {title} ({answer.model})")
    print(answer.text or "(no answer)")
    if answer.sources:
        print("\nSources:")
        for s in answer.sources:
            print(f"  - {s.title}: {s.url}")
    if answer.rewritten:
        print(f"\nSearched for: {answer.query}")
    first = f"{t.first_token:.2f} s" if t.first_token is not None else "-"
    rate = f", {t.tokens_per_s:.1f} tokens/s" if t.tokens_per_s else ""
    print(f"\n[first token {first}, total {t.total:.2f} s{rate}]\n")


def cmd_ask(args: argparse.Namespace) -> int:
    from ..chains import AnswerEvent, TokenEvent

    settings = settings_from(args)
    history = read_history(args.history)
    rag, raw = open_chains(args, settings)
    if args.compare:
        return _ask_both(args, rag, raw, history)
    answer = None
    for event in rag.stream(args.question, history):
        if isinstance(event, TokenEvent) and not args.json:
            print(event.text, end="", flush=True)
        elif isinstance(event, AnswerEvent):
            answer = event.answer
    assert answer is not None
    if args.json:
        print(json.dumps(asdict(answer), indent=1, ensure_ascii=False))
    else:
        print("\n")
        print_answer("RAG", answer)
    return 0


def _ask_both(args: argparse.Namespace, rag: Any, raw: Any, history: list[dict[str, str]]) -> int:
    """RAG and the model alone at once; a side's error is printed in its place, then raised."""
    from ..side_by_side import compare

    results = compare(rag, raw, args.question, history)
    errors = {side: r for side, r in results.items() if isinstance(r, RagError)}
    if args.json:
        out = {
            side: ({"error": str(r)} if isinstance(r, RagError) else asdict(r)) for side, r in results.items()
        }
        print(json.dumps(out, indent=1, ensure_ascii=False))
    else:
        for side, title in (("rag", "RAG"), ("raw", "Model only")):
            result = results[side]
            if isinstance(result, RagError):
                print(f"== {title}\nerror: {result}\n")
            else:
                print_answer(title, result)
    if errors:
        raise next(iter(errors.values()))
    return 0
