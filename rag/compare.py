"""Measure what RAG adds: both chains on a question set, scored the same way.

For each question the RAG chain and the raw model answer concurrently (the
same `side_by_side` the chat uses) and both answers get deterministic scores:

- answer-key coverage: the share of the question's key phrases the answer
  states, after normalisation (case, punctuation, quotes, whitespace);
  `all_keys` is true when every key is stated;
- for RAG, whether a retrieved source is a gold page;
- on unanswerable questions (no gold, no keys): whether the answer admits it
  does not know (and so, for raw, whether it invented an answer);
- latency (first token, total).

An answer that failed (the server unreachable, an error mid-stream) is an
error, never a score: its scores are empty, it is counted apart, and it is left
out of every rate.

An optional LLM judge grades each answer as well; its verdict sits beside the
deterministic scores and never replaces them. `run_comparison()` yields one
result per question as it finishes, so a page or a script can show progress,
stop, and keep the partial results.
"""

from __future__ import annotations

import csv
import io
import re
import threading
import unicodedata
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import asdict, dataclass, field

from .chains import Answer, RagChain, RawChain
from .errors import RagError
from .evaluation import Question, group_of, is_gold
from .llms.base import Delta, GenerationOptions, Target
from .side_by_side import compare

# How answers say they don't know (the notebook's prompt asks for exactly that).
DONT_KNOW = re.compile(
    r"\b(i\s+(do\s+not|don'?t)\s+know|not\s+(sure|certain)|no\s+information|cannot\s+(find|answer|tell)|"
    r"can'?t\s+(find|answer|tell)|(is|are)\s+not\s+(mentioned|provided|covered|in\s+the\s+context)|"
    r"does\s+not\s+(say|mention|contain)|doesn'?t\s+(say|mention|contain)|unknown)\b",
    re.IGNORECASE,
)
JUDGE_PROMPT = (
    "You grade answers to questions about technical documentation.\n"
    "Question: {question}\n"
    "Facts a correct answer states: {keys}\n"
    "Answer to grade: {answer}\n"
    "Reply with one word: CORRECT if the answer states these facts without contradicting them, "
    "PARTIAL if it states some of them, WRONG otherwise. For a question with no facts listed, "
    "CORRECT means the answer says it does not know."
)


def normalise(text: str) -> str:
    """Lower case, plain quotes and dashes, punctuation as spaces, single spaces."""
    text = unicodedata.normalize("NFKC", text).lower()
    text = text.replace("\u2019", "'").replace("\u2018", "'").replace("\u201c", '"').replace("\u201d", '"')
    text = re.sub(r"[\u2010-\u2015]", "-", text)
    text = re.sub(r"[^\w'\"=*.\-]+", " ", text)
    text = re.sub(r"(?<!\w)[.\-]+|[.\-]+(?!\w)", " ", text)  # sentence dots, dashes; keep 3.11, a-b
    return " ".join(text.split())


def keys_stated(answer: str, keys: Sequence[str]) -> list[bool]:
    said = f" {normalise(answer)} "
    return [f" {normalise(key)} " in said for key in keys]


def says_dont_know(answer: str) -> bool:
    return bool(DONT_KNOW.search(answer)) or not answer.strip()


@dataclass
class Scores:
    coverage: float | None  # None for unanswerable questions
    all_keys: bool | None
    abstained: bool | None  # said it does not know; None when the answer failed
    first_token_s: float | None
    total_s: float | None
    error: str = ""  # why the answer failed; its scores are then None
    judge: str = ""  # CORRECT | PARTIAL | WRONG | "" when not judged


@dataclass
class Result:
    id: str
    kind: str
    question: str
    rag_answer: str
    raw_answer: str
    rag: Scores
    raw: Scores
    cited_gold: bool | None  # None when the question has no gold pages or the RAG answer failed
    sources: list[str] = field(default_factory=list)
    unanswerable: bool = False  # no answer keys: the right answer is "I don't know"


def score(answer: Answer | RagError, question: Question) -> tuple[str, Scores]:
    if isinstance(answer, RagError):
        return "", Scores(None, None, None, None, None, error=str(answer) or type(answer).__name__)
    t = answer.timings
    if question.answer_keys:
        stated = keys_stated(answer.text, question.answer_keys)
        coverage, all_keys = sum(stated) / len(stated), all(stated)
    else:
        coverage = all_keys = None
    return answer.text, Scores(coverage, all_keys, says_dont_know(answer.text), t.first_token, t.total)


def evaluate_question(
    rag: RagChain, raw: RawChain, question: Question, cancel: threading.Event | None = None
) -> Result:
    answers = compare(rag, raw, question.question, question.history, cancel)
    for side in ("rag", "raw"):  # a side stopped before it began has no answer
        answers.setdefault(side, RagError("Stopped before this answer began."))
    rag_text, rag_scores = score(answers["rag"], question)
    raw_text, raw_scores = score(answers["raw"], question)
    sources = [s.url for s in answers["rag"].sources] if isinstance(answers["rag"], Answer) else []
    answered = isinstance(answers["rag"], Answer)
    cited = any(is_gold(url, question.gold) for url in sources) if question.gold and answered else None
    return Result(
        question.id,
        question.kind or group_of(question),
        question.question,
        rag_text,
        raw_text,
        rag_scores,
        raw_scores,
        cited,
        sources,
        unanswerable=not question.answer_keys,
    )


def run_comparison(
    rag: RagChain,
    raw: RawChain,
    questions: Iterable[Question],
    *,
    judge: Target | None = None,
    judge_model: str = "",
    cancel: threading.Event | None = None,
) -> Iterator[Result]:
    """One Result per question, as each is scored; stops early when `cancel` is set.

    Cancelling stops the question in flight at once (both generations end); its
    half-written answers are not scored, the finished results stand.
    """
    for question in questions:
        if cancel is not None and cancel.is_set():
            return
        result = evaluate_question(rag, raw, question, cancel)
        if cancel is not None and cancel.is_set():
            return
        for side, answer in ((result.rag, result.rag_answer), (result.raw, result.raw_answer)):
            if judge is not None and not side.error:  # a failed answer is not graded
                side.judge = grade(judge, judge_model, question, answer)
        yield result


def grade(judge: Target, model: str, question: Question, answer: str) -> str:
    """The judge's one-word verdict; "" when it cannot say."""
    from langchain_core.messages import HumanMessage

    prompt = JUDGE_PROMPT.format(
        question=question.question,
        keys="; ".join(question.answer_keys) or "(none)",
        answer=answer or "(no answer)",
    )
    options = GenerationOptions(max_tokens=4, temperature=0.0)
    try:
        text = "".join(
            i.text for i in judge.stream([HumanMessage(prompt)], model, options) if isinstance(i, Delta)
        )
    except RagError:
        return ""
    match = re.search(r"\b(CORRECT|PARTIAL|WRONG)\b", text.upper())
    return match.group(1) if match else ""


# Summaries and downloads -------------------------------------------------------


def _mean(values: Iterable[float | None]) -> float | None:
    got = [v for v in values if v is not None]
    return round(sum(got) / len(got), 4) if got else None


def summarise(results: Sequence[Result]) -> dict[str, dict[str, float | int | None]]:
    """Totals per kind and overall: errors, coverage, all-keys rate, gold citations, abstentions,
    latency. Every rate is over the answers that did not fail; None when there are none."""
    groups: dict[str, list[Result]] = {"all": list(results)}
    for r in results:
        groups.setdefault(r.kind, []).append(r)
    table = {}
    for name, rows in groups.items():
        rag = [r for r in rows if not r.rag.error]
        raw = [r for r in rows if not r.raw.error]
        table[name] = {
            "n": len(rows),
            "rag_errors": len(rows) - len(rag),
            "raw_errors": len(rows) - len(raw),
            "rag_coverage": _mean(r.rag.coverage for r in rag if not r.unanswerable),
            "raw_coverage": _mean(r.raw.coverage for r in raw if not r.unanswerable),
            "rag_all_keys": _mean(float(bool(r.rag.all_keys)) for r in rag if not r.unanswerable),
            "raw_all_keys": _mean(float(bool(r.raw.all_keys)) for r in raw if not r.unanswerable),
            "rag_cited_gold": _mean(
                float(bool(r.cited_gold)) for r in rag if not r.unanswerable and r.cited_gold is not None
            ),
            "rag_abstained_unanswerable": _mean(float(bool(r.rag.abstained)) for r in rag if r.unanswerable),
            "raw_invented_unanswerable": _mean(float(not r.raw.abstained) for r in raw if r.unanswerable),
            "rag_total_s": _mean(r.rag.total_s for r in rag),
            "raw_total_s": _mean(r.raw.total_s for r in raw),
        }
    return table


def nothing_measured(results: Sequence[Result]) -> str:
    """A sentence when every answer on a side failed, else "": nothing was measured there, so
    a run like that is a failure, not a result."""
    failed = [side for side in ("rag", "raw") if results and all(getattr(r, side).error for r in results)]
    if not failed:
        return ""
    who = (
        "Every answer"
        if len(failed) == 2
        else f"Every {'RAG' if failed[0] == 'rag' else 'model-only'} answer"
    )
    return f"{who} failed, so nothing was measured. The first error: {getattr(results[0], failed[0]).error}"


def to_rows(results: Sequence[Result]) -> list[dict[str, object]]:
    """One flat row per question, for a table or a CSV; a failed answer's scores are empty."""
    rows = []
    for r in results:
        rows.append(
            {
                "id": r.id,
                "kind": r.kind,
                "question": r.question,
                "rag_answer": r.rag_answer,
                "raw_answer": r.raw_answer,
                "rag_error": r.rag.error,  # beside the answers: a failed answer has no scores
                "raw_error": r.raw.error,
                "rag_coverage": r.rag.coverage,
                "raw_coverage": r.raw.coverage,
                "rag_all_keys": r.rag.all_keys,
                "raw_all_keys": r.raw.all_keys,
                "cited_gold": r.cited_gold,
                "rag_abstained": r.rag.abstained,
                "raw_abstained": r.raw.abstained,
                "rag_first_token_s": r.rag.first_token_s,
                "raw_first_token_s": r.raw.first_token_s,
                "rag_total_s": r.rag.total_s,
                "raw_total_s": r.raw.total_s,
                "rag_judge": r.rag.judge,
                "raw_judge": r.raw.judge,
            }
        )
    return rows


def to_csv(results: Sequence[Result]) -> str:
    rows = to_rows(results)
    out = io.StringIO()
    if rows:
        writer = csv.DictWriter(out, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    return out.getvalue()


def to_json(results: Sequence[Result]) -> dict[str, object]:
    return {"summary": summarise(results), "results": [asdict(r) for r in results]}
