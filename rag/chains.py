"""The notebook's RAG chain, and the raw chain beside it, streaming with timings.

RAG, as in the notebook:
  (a) with history, turn the latest question into a standalone search query —
      the notebook's `query_rewrite_template` asked of the model (`rewrite`), or
      the last exchange and the question searched together, the bare question
      weighed too (`history`, for small models that cannot rewrite usefully; see
      docs/benchmarks.md). With no history the question is searched as it is
      and no model call is made;
  (b) retrieve the top k chunks (4, as in the notebook);
  (c) answer with the notebook's answer prompt over the retrieved context;
  (d) return the answer with its sources and the query that was searched.
Raw: the same model and history, no retrieval.

Both yield events as they happen (`QueryEvent`, `SourcesEvent`, `TokenEvent`,
then one `AnswerEvent`), and the final `Answer` carries stage timings.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Literal

from langchain_core.messages import AIMessage, BaseMessage, HumanMessage

from .errors import InputError
from .evidence import Policy, quote
from .llms.base import Delta, Finish, GenerationOptions, Target, Waiting
from .prompts import (
    ANSWER_PROMPT,
    NOT_FOUND,
    QUERY_REWRITE_PROMPT,
    RAW_PROMPT,
    format_context,
    format_evidence,
)
from .retrieval import Hit, Retriever, history_query

HistoryMode = Literal["auto", "rewrite", "history"]
Message = dict[str, str]  # {"role": "user" | "assistant", "content": ...}


@dataclass
class Source:
    title: str
    url: str
    content: str
    score: float
    heading: str = ""  # the chunk's section path ("Page › Section"): sources of one page differ by it


@dataclass
class Timings:
    rewrite: float | None = None  # seconds spent rewriting the question (None: skipped)
    retrieve: float | None = None
    first_token: float | None = None  # from the question to the first answer token
    total: float = 0.0
    output_tokens: int | None = None
    tokens_per_s: float | None = None


@dataclass
class Answer:
    text: str
    model: str
    sources: list[Source] = field(default_factory=list)
    query: str = ""  # what was searched
    rewritten: bool = False  # True when the model rewrote the question
    timings: Timings = field(default_factory=Timings)
    done_reason: str | None = None


@dataclass
class QueryEvent:
    query: str
    rewritten: bool


@dataclass
class SourcesEvent:
    sources: list[Source]


@dataclass
class TokenEvent:
    text: str


@dataclass
class AnswerEvent:
    answer: Answer


@dataclass
class WaitingEvent:
    """The model is busy with other questions: `ahead` of them wait before this one."""

    ahead: int


ChainEvent = QueryEvent | SourcesEvent | TokenEvent | AnswerEvent | WaitingEvent


def to_messages(history: Sequence[Message]) -> list[BaseMessage]:
    messages: list[BaseMessage] = []
    for turn in history:
        role, content = turn.get("role"), turn.get("content", "")
        if role in ("user", "human"):
            messages.append(HumanMessage(content))
        elif role in ("assistant", "ai"):
            messages.append(AIMessage(content))
        else:
            raise InputError(f"Unknown role {role!r} in the history.", "Use 'user' or 'assistant'.")
    return messages


def to_source(hit: Hit) -> Source:
    meta = hit.document.metadata
    return Source(
        title=meta.get("title", ""),
        url=meta.get("source", meta.get("url", "")),
        content=hit.document.page_content,
        score=round(hit.score, 6),
        heading=meta.get("heading", ""),
    )


class _Generation:
    """Streams one model call, recording first-token time and token counts."""

    def __init__(self, target: Target, model: str, options: GenerationOptions, started: float) -> None:
        self.target, self.model, self.options, self.started = target, model, options, started
        self.text = ""
        self.first_token: float | None = None
        self.finish: Finish | None = None
        self.cancelled = False

    def run(
        self, messages: list[BaseMessage], cancel: threading.Event | None
    ) -> Iterator[TokenEvent | WaitingEvent]:
        stream = self.target.stream(messages, self.model, self.options)
        ahead: int | None = None
        try:
            for item in stream:
                if cancel is not None and cancel.is_set():
                    self.cancelled = True
                    break
                if isinstance(item, Waiting):
                    if item.ahead != ahead:  # say it when it changes, not every poll
                        ahead = item.ahead
                        yield WaitingEvent(item.ahead)
                elif isinstance(item, Delta):
                    if self.first_token is None:
                        self.first_token = time.perf_counter() - self.started
                    self.text += item.text
                    yield TokenEvent(item.text)
                elif isinstance(item, Finish):
                    self.finish = item
        finally:
            close = getattr(stream, "close", None)
            if close:
                close()

    def say(self, text: str, reason: str) -> Iterator[TokenEvent]:
        """An answer the chain gives without the model (see RagChain.stream)."""
        self.first_token = time.perf_counter() - self.started
        self.text = text
        self.finish = Finish(model=self.model or self.target.default_model, done_reason=reason)
        yield TokenEvent(text)

    def timings(self, **stages: float | None) -> Timings:
        total = time.perf_counter() - self.started
        tokens = self.finish.output_tokens if self.finish else None
        rate = None
        if tokens and self.finish and self.finish.eval_seconds:
            rate = tokens / self.finish.eval_seconds
        elif tokens and self.first_token is not None and total > self.first_token:
            rate = tokens / (total - self.first_token)
        return Timings(
            first_token=self.first_token, total=total, output_tokens=tokens, tokens_per_s=rate, **stages
        )

    def answer(self, **fields) -> Answer:
        reason = "cancelled" if self.cancelled else (self.finish.done_reason if self.finish else None)
        model = self.finish.model if self.finish else (self.model or self.target.default_model)
        return Answer(text=self.text.strip(), model=model, done_reason=reason, **fields)


class RagChain:
    def __init__(
        self,
        target: Target,
        retriever: Retriever,
        *,
        model: str = "",
        k: int = 4,
        options: GenerationOptions | None = None,
        history_mode: HistoryMode = "auto",
        evidence: Policy | bool | None = None,
        passages: bool = True,
    ) -> None:
        if history_mode not in ("auto", "rewrite", "history"):
            raise InputError(f"Unknown history mode {history_mode!r}.", "Use auto, rewrite or history.")
        # A small base model gets the best sentences of the chunks, not the chunks (evidence.py);
        # evidence=False gives it the chunks, a Policy sets how the sentences are chosen.
        if evidence is None or evidence is True:
            evidence = target.is_small_base_model
        self.evidence: Policy | None = (
            evidence if isinstance(evidence, Policy) else (Policy() if evidence else None)
        )
        self.target = target
        self.retriever = retriever
        self.model = model
        self.k = k
        self.options = options or GenerationOptions()
        self.history_mode: HistoryMode = history_mode
        # The model reads the best passages of the pages found (Retriever.passages), not one
        # chunk of each; False: the chunks `retrieve` gives (bench/ compares the two).
        self.passages = passages

    @property
    def effective_history_mode(self) -> str:
        if self.history_mode != "auto":
            return self.history_mode
        return "history" if self.target.is_small_base_model else "rewrite"

    def search_query(self, question: str, history: Sequence[Message]) -> tuple[str, bool]:
        """What to search for: the question itself, or its standalone form given the history."""
        if not history:
            return question, False
        if self.effective_history_mode == "history":
            return history_query(question, list(history)), False
        messages = QUERY_REWRITE_PROMPT.format_messages(
            messages=[*to_messages(history), HumanMessage(question)]
        )
        options = GenerationOptions(
            max_tokens=48, temperature=0.0, repeat_penalty=self.options.repeat_penalty
        )
        text = "".join(
            item.text for item in self.target.stream(messages, self.model, options) if isinstance(item, Delta)
        )
        query = _first_line(text)
        return (query, True) if query else (history_query(question, list(history)), False)

    def _search(
        self, query: str, question: str, rewritten: bool, k: int | None, read: bool = False
    ) -> list[Hit]:
        # A query with its history also weighs the question alone; the model's rewrite
        # stands alone already (rag/retrieval.py, QUESTION_WEIGHT). `read`: what the model
        # reads, the best passages of the pages found, not one chunk of each.
        find = self.retriever.passages if read and self.passages else self.retriever.search
        return find(query, self.k if k is None else k, question=None if rewritten else question)

    def retrieve(
        self, question: str, history: Sequence[Message] = (), *, k: int | None = None
    ) -> tuple[str, bool, list[Hit]]:
        """The query searched, whether the model rewrote it, and the top `k` hits (default: the
        chain's k) as `search` ranks them: one chunk a page on a site of 5 pages or more (what
        `python -m rag search` and `eval` score; the model reads `Retriever.passages`)."""
        query, rewritten = self.search_query(question, history)
        return query, rewritten, self._search(query, question, rewritten, k)

    def stream(
        self,
        question: str,
        history: Sequence[Message] = (),
        cancel: threading.Event | None = None,
        *,
        k: int | None = None,
    ) -> Iterator[ChainEvent]:
        """The answer's events; `k` chunks are retrieved (default: the chain's k)."""
        started = time.perf_counter()
        query, rewritten = self.search_query(question, history)
        rewrite_s = time.perf_counter() - started if history else None
        yield QueryEvent(query, rewritten)
        t0 = time.perf_counter()
        hits = self._search(query, question, rewritten, k, read=True)
        retrieve_s = time.perf_counter() - t0
        sources = [to_source(h) for h in hits]
        yield SourcesEvent(sources)
        generation = _Generation(self.target, self.model, self.options, started)
        best = self.evidence.select(query, [h.document for h in hits]) if self.evidence else []
        if self.evidence and (not best or self.evidence.quote):
            # Nothing retrieved answers it (say so rather than let a small model invent),
            # or the answer is the evidence itself, quoted.
            yield from generation.say(quote(best) if best else NOT_FOUND, "quoted" if best else "not-found")
        else:
            context = (
                format_evidence(best)
                if best
                else format_context([h.document for h in hits], self.target.chunk_chars)
            )
            messages = ANSWER_PROMPT.format_messages(
                context=context, messages=[*to_messages(history), HumanMessage(question)]
            )
            yield from generation.run(messages, cancel)
        timings = generation.timings(rewrite=rewrite_s, retrieve=retrieve_s)
        yield AnswerEvent(
            generation.answer(sources=sources, query=query, rewritten=rewritten, timings=timings)
        )

    def invoke(self, question: str, history: Sequence[Message] = (), *, k: int | None = None) -> Answer:
        return _last_answer(self.stream(question, history, k=k))


class RawChain:
    """The same model and conversation, without retrieval: the control column."""

    def __init__(self, target: Target, *, model: str = "", options: GenerationOptions | None = None) -> None:
        self.target = target
        self.model = model
        self.options = options or GenerationOptions()

    def stream(
        self, question: str, history: Sequence[Message] = (), cancel: threading.Event | None = None
    ) -> Iterator[ChainEvent]:
        started = time.perf_counter()
        messages = RAW_PROMPT.format_messages(messages=[*to_messages(history), HumanMessage(question)])
        generation = _Generation(self.target, self.model, self.options, started)
        yield from generation.run(messages, cancel)
        yield AnswerEvent(generation.answer(query=question, timings=generation.timings()))

    def invoke(self, question: str, history: Sequence[Message] = ()) -> Answer:
        return _last_answer(self.stream(question, history))


def _last_answer(events: Iterator[ChainEvent]) -> Answer:
    answer = None
    for event in events:
        if isinstance(event, AnswerEvent):
            answer = event.answer
    assert answer is not None
    return answer


def _first_line(text: str) -> str:
    for line in text.strip().splitlines():
        line = line.strip().strip('"').strip("'").strip()
        if line.lower().startswith(("rewritten query:", "query:")):
            line = line.split(":", 1)[1].strip()
        if line:
            return line[:300]
    return ""
