"""Retrieval quality on a question set: recall@k and MRR by gold page.

The question format is the one of rag/data/python-docs-qa.jsonl: `id`,
`question`, `gold` (page paths relative to the docs root), `answer_keys`,
`kind`, and for follow-ups `history`. A retrieved chunk counts as a hit when
its URL path is a gold path below the docs root, which `evaluate` takes to be the
directory every URL it was given shares (`site_root`): a path only ending in a gold
path further down (Sphinx's `_modules/pkg/web.html` for `web.html`) is not one.
recall@k is the share of questions with at least one hit in the first k chunks; MRR
uses the rank of the first hit.
Questions without gold pages (unanswerable) are left out of retrieval scores.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import unquote, urlsplit

from .errors import InputError

KS = (1, 4, 10)

FORMAT_FIX = (
    'Each line must be a JSON object with a "question" string, and optionally "id", "kind" (a string), '
    '"gold" and "answer_keys" (lists of strings) and "history" ([{"role": "user", "content": "..."}, ...]).'
)
JSON_TYPES = {list: "array", str: "string", int: "number", float: "number", bool: "boolean"}


@dataclass
class Question:
    id: str
    question: str
    gold: list[str] = field(default_factory=list)
    answer_keys: list[str] = field(default_factory=list)
    kind: str = ""
    history: list[dict[str, str]] = field(default_factory=list)


def load_questions(source: str | os.PathLike | bytes, *, name: str | None = None) -> list[Question]:
    """Questions from a JSONL file: a path, or the file's bytes (an upload; `name` is its name).

    Every line is checked here, so a bad file is refused with its line number before
    any model is asked anything.
    """
    if isinstance(source, bytes | bytearray):
        return parse_questions(bytes(source), name or "The question file")
    try:
        data = Path(source).read_bytes()
    except OSError as exc:
        raise InputError(f"Cannot read {source} ({exc.strerror}).", "Check the path.") from None
    return parse_questions(data, name or str(source))


def parse_questions(text: str | bytes, name: str = "The question file") -> list[Question]:
    """Questions from the text of a JSONL file; `name` is what errors call the file."""
    if isinstance(text, bytes):
        try:
            text = text.decode("utf-8-sig")
        except UnicodeDecodeError as exc:
            line = text[: exc.start].count(b"\n") + 1
            raise InputError(
                f"{name}, line {line}: not UTF-8 text.", "Save the file as UTF-8 (JSON Lines)."
            ) from None
    questions = []
    for number, line in enumerate(text.split("\n"), 1):  # not splitlines: JSON strings may hold U+2028
        if not line.strip():
            continue
        try:
            raw = json.loads(line)
        except ValueError as exc:
            raise InputError(f"{name}, line {number}: not JSON ({exc}).", FORMAT_FIX) from None
        problem = _question_problem(raw)
        if problem:
            raise InputError(f"{name}, line {number}: {problem}.", FORMAT_FIX)
        questions.append(
            Question(
                id=str(raw.get("id", number)),
                question=raw["question"],
                gold=list(raw.get("gold") or []),
                answer_keys=list(raw.get("answer_keys") or []),
                kind=raw.get("kind") or "",
                history=list(raw.get("history") or []),
            )
        )
    return questions


def _question_problem(raw: object) -> str:
    """What is wrong with one parsed line, or ""."""
    if not isinstance(raw, dict):
        return f"{json.dumps(raw)[:40]} is a JSON {JSON_TYPES.get(type(raw), 'value')}, not an object"
    question = raw.get("question")
    if not isinstance(question, str) or not question.strip():
        return f'"question" is {question!r:.60}, not a question'
    if "id" in raw and (not isinstance(raw["id"], str | int) or isinstance(raw["id"], bool)):
        return f'"id" is {raw["id"]!r:.60}, not a string or number'
    if not isinstance(raw.get("kind") or "", str):
        return f'"kind" is {raw["kind"]!r:.60}, not a string'
    for key in ("gold", "answer_keys"):
        value = raw.get(key) or []
        if not isinstance(value, list) or not all(isinstance(v, str) and v.strip() for v in value):
            return f'"{key}" is {value!r:.60}, not a list of non-empty strings'
    history = raw.get("history") or []
    if not isinstance(history, list) or not all(_is_turn(t) for t in history):
        return f'"history" is {history!r:.60}, not a list of {{"role", "content"}} turns'
    return ""


def _is_turn(turn: object) -> bool:
    return (
        isinstance(turn, dict)
        and turn.get("role") in ("user", "assistant", "human", "ai")
        and isinstance(turn.get("content"), str)
    )


def is_gold(url: str, gold: Sequence[str], root: str | None = None) -> bool:
    """Whether the URL's path is a gold path below `root` (a URL path, as `site_root` gives it)
    or below a directory above it; with no root, below any directory."""
    path = unquote(urlsplit(url).path)
    for g in gold:
        g = g.lstrip("/")
        below = path == g or path.endswith("/" + g)
        if below and (root is None or root.startswith(path[: len(path) - len(g)])):
            return True
    return False


def site_root(urls: Iterable[str]) -> str:
    """The directory every URL's path lies in (gold paths are relative to the docs root)."""
    paths = (unquote(urlsplit(url).path) for url in urls)
    dirs = [path.split("/")[:-1] for path in paths if path]
    # on lists, commonprefix compares part by part (commonpath refuses a relative source
    # beside an absolute one)
    return "/".join(os.path.commonprefix(dirs) or [""]) + "/"  # noqa: RUF071


def first_hit_rank(urls: Sequence[str], gold: Sequence[str], root: str | None = None) -> int | None:
    """1-based rank of the first gold chunk, or None."""
    for rank, url in enumerate(urls, 1):
        if is_gold(url, gold, root):
            return rank
    return None


@dataclass
class Scores:
    n: int = 0
    hits: dict[int, int] = field(default_factory=lambda: {k: 0 for k in KS})
    reciprocal: float = 0.0

    def add(self, rank: int | None) -> None:
        self.n += 1
        for k in self.hits:
            if rank is not None and rank <= k:
                self.hits[k] += 1
        if rank is not None:
            self.reciprocal += 1.0 / rank

    def as_dict(self) -> dict[str, float]:
        out: dict[str, float] = {"n": self.n}
        for k, hit in self.hits.items():
            out[f"recall@{k}"] = round(hit / self.n, 4) if self.n else 0.0
        out["mrr"] = round(self.reciprocal / self.n, 4) if self.n else 0.0
        return out


def group_of(question: Question) -> str:
    return "followup" if question.history or question.kind == "followup" else "single"


def evaluate(
    questions: Sequence[Question], search: Callable[[Question], list[str]], ks: Sequence[int] = KS
) -> dict[str, object]:
    """`search(question)` returns the retrieved chunk URLs, best first (at least max(ks)); the
    docs root is the directory all of them share."""

    def scores() -> Scores:
        return Scores(hits={k: 0 for k in sorted(set(ks))})

    overall, groups, kinds = scores(), {}, {}
    rows = []
    found = [(q, search(q)) for q in questions if q.gold]
    root = site_root(url for _, urls in found for url in urls)
    for q, urls in found:
        rank = first_hit_rank(urls, q.gold, root)
        overall.add(rank)
        groups.setdefault(group_of(q), scores()).add(rank)
        kinds.setdefault(q.kind or "?", scores()).add(rank)
        rows.append({"id": q.id, "kind": q.kind, "rank": rank, "top": urls[:4]})
    return {
        "overall": overall.as_dict(),
        "groups": {name: s.as_dict() for name, s in sorted(groups.items())},
        "kinds": {name: s.as_dict() for name, s in sorted(kinds.items())},
        "questions": rows,
    }
