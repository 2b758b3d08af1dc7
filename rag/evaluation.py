"""Retrieval quality on a question set: recall@k and MRR by gold page.

The question format is the one of ../shared/eval/python-qa.jsonl: `id`,
`question`, `gold` (page paths relative to the docs root), `answer_keys`,
`kind`, and for follow-ups `history`. A retrieved chunk counts as a hit when
its URL path ends with a gold path. recall@k is the share of questions with at
least one hit in the first k chunks; MRR uses the rank of the first hit.
Questions without gold pages (unanswerable) are left out of retrieval scores.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import unquote, urlsplit

from .errors import InputError

KS = (1, 4, 10)


@dataclass
class Question:
    id: str
    question: str
    gold: list[str] = field(default_factory=list)
    answer_keys: list[str] = field(default_factory=list)
    kind: str = ""
    history: list[dict[str, str]] = field(default_factory=list)


def load_questions(path: str | Path) -> list[Question]:
    questions = []
    try:
        lines = Path(path).read_text(encoding="utf-8").splitlines()
    except OSError as exc:
        raise InputError(f"Cannot read {path} ({exc.strerror}).") from None
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            raw = json.loads(line)
            questions.append(
                Question(
                    id=str(raw.get("id", number)),
                    question=raw["question"],
                    gold=list(raw.get("gold") or []),
                    answer_keys=list(raw.get("answer_keys") or []),
                    kind=raw.get("kind", ""),
                    history=list(raw.get("history") or []),
                )
            )
        except (ValueError, KeyError, TypeError) as exc:
            raise InputError(
                f"{path}, line {number}: not a question ({type(exc).__name__}: {exc}).",
                'Each line must be a JSON object with at least "question".',
            ) from None
    return questions


def is_gold(url: str, gold: Sequence[str]) -> bool:
    path = unquote(urlsplit(url).path)
    return any(path == g or path.endswith("/" + g.lstrip("/")) for g in gold)


def first_hit_rank(urls: Sequence[str], gold: Sequence[str]) -> int | None:
    """1-based rank of the first gold chunk, or None."""
    for rank, url in enumerate(urls, 1):
        if is_gold(url, gold):
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
    """`search(question)` returns the retrieved chunk URLs, best first (at least max(ks))."""

    def scores() -> Scores:
        return Scores(hits={k: 0 for k in sorted(set(ks))})

    overall, groups, kinds = scores(), {}, {}
    rows = []
    for q in questions:
        if not q.gold:
            continue
        urls = search(q)
        rank = first_hit_rank(urls, q.gold)
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
