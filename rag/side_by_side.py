"""Run the RAG chain and the raw chain at the same time.

Each chain runs in its own worker thread and only produces events into one
queue; the caller's thread consumes them (`SideBySide.events()` yields them
tagged "rag" or "raw" as they arrive). That keeps every UI call on the caller's
thread — which Streamlit requires — while both answers stream at once. A
failure on one side is reported as that side's error; the other side carries on.

The workers also keep each side's answer so far, so a run that is stopped (or
whose consumer is interrupted, as a Streamlit rerun interrupts a script)
still has its partial answers: `SideBySide.results()` returns them, marked
cancelled, to whoever asks first — the interrupted script or the next run.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Literal

from .chains import (
    Answer,
    AnswerEvent,
    ChainEvent,
    Message,
    QueryEvent,
    RagChain,
    RawChain,
    Source,
    SourcesEvent,
    Timings,
    TokenEvent,
)
from .errors import RagError

Side = Literal["rag", "raw"]
Result = Answer | RagError


@dataclass
class SideEvent:
    side: Side
    event: ChainEvent | None = None
    error: RagError | None = None


@dataclass
class _Partial:
    """What one side has produced so far."""

    text: str = ""
    sources: list[Source] = field(default_factory=list)
    query: str = ""
    rewritten: bool = False
    result: Result | None = None  # the final answer or error, once there is one

    def record(self, event: ChainEvent) -> None:
        if isinstance(event, TokenEvent):
            self.text += event.text
        elif isinstance(event, SourcesEvent):
            self.sources = event.sources
        elif isinstance(event, QueryEvent):
            self.query, self.rewritten = event.query, event.rewritten
        elif isinstance(event, AnswerEvent):
            self.result = event.answer

    def stopped(self) -> Answer:
        return Answer(
            text=self.text.strip(),
            model="",
            sources=self.sources,
            query=self.query,
            rewritten=self.rewritten,
            timings=Timings(),
            done_reason="cancelled",
        )


_END = object()


class SideBySide:
    """One question asked of both chains (`rag=None` asks the raw chain alone)."""

    def __init__(
        self,
        rag: RagChain | None,
        raw: RawChain,
        question: str,
        history: Sequence[Message] = (),
        cancel: threading.Event | None = None,
        *,
        raw_history: Sequence[Message] | None = None,
    ) -> None:
        self.question = question
        self.cancel = cancel or threading.Event()
        self.chains: dict[Side, RagChain | RawChain] = {"raw": raw}
        if rag is not None:
            self.chains = {"rag": rag, "raw": raw}
        self.histories = {"rag": history, "raw": history if raw_history is None else raw_history}
        self._partial: dict[Side, _Partial] = {side: _Partial() for side in self.chains}
        self._lock = threading.Lock()
        self._frozen: dict[Side, Result] | None = None
        self._queue: queue.Queue = queue.Queue()
        self._threads: list[threading.Thread] = []

    @property
    def sides(self) -> tuple[Side, ...]:
        return tuple(self.chains)

    @property
    def finished(self) -> bool:
        """Every side has its final answer or error."""
        with self._lock:
            return all(p.result is not None for p in self._partial.values())

    def _work(self, side: Side, chain: RagChain | RawChain) -> None:
        try:
            for event in chain.stream(self.question, self.histories[side], self.cancel):
                with self._lock:
                    self._partial[side].record(event)
                self._queue.put(SideEvent(side, event))
        except Exception as exc:  # never let a worker die silently
            error = exc
            if not isinstance(exc, RagError):
                error = RagError(f"Unexpected error: {type(exc).__name__}: {exc}")
            with self._lock:
                self._partial[side].result = error
            self._queue.put(SideEvent(side, error=error))
        finally:
            self._queue.put(_END)

    def events(self) -> Iterator[SideEvent]:
        """Start both chains; their events as they happen. Leaving early stops them."""
        self._threads = [
            threading.Thread(target=self._work, args=(side, chain), name=f"chain-{side}", daemon=True)
            for side, chain in self.chains.items()
        ]
        for thread in self._threads:
            thread.start()
        running = len(self._threads)
        try:
            while running:
                item = self._queue.get()
                if item is _END:
                    running -= 1
                else:
                    yield item
        finally:
            if running:  # the consumer stopped early: stop the workers too
                self.cancel.set()
            for thread in self._threads:
                thread.join(timeout=5)

    def stop(self) -> dict[Side, Result]:
        """Stop both chains and keep what each side has so far (see `results`)."""
        self.cancel.set()
        return self.results()

    def results(self) -> dict[Side, Result]:
        """Each side's answer or error; a side still running gives its partial answer,
        marked cancelled (its text may be empty). Once a partial
        answer has been handed out the results are fixed, so every caller gets the same."""
        with self._lock:
            if self._frozen is not None:
                return dict(self._frozen)
            done = {side: p.result for side, p in self._partial.items()}
            if all(r is not None for r in done.values()):
                return done
            self.cancel.set()
            self._frozen = {
                side: p.result if p.result is not None else p.stopped() for side, p in self._partial.items()
            }
            return dict(self._frozen)

    @property
    def stopped(self) -> bool:
        """Some side was stopped before its end: its answer (see `results`) is marked cancelled."""
        return any(isinstance(r, Answer) and r.done_reason == "cancelled" for r in self.results().values())


def side_by_side(
    rag: RagChain | None,
    raw: RawChain,
    question: str,
    history: Sequence[Message] = (),
    cancel: threading.Event | None = None,
    *,
    raw_history: Sequence[Message] | None = None,
) -> Iterator[SideEvent]:
    """Both chains' events as they happen. Each column may have its own history
    (the chat keeps the RAG and raw conversations apart); `rag=None` runs raw alone."""
    return SideBySide(rag, raw, question, history, cancel, raw_history=raw_history).events()


def compare(
    rag: RagChain,
    raw: RawChain,
    question: str,
    history: Sequence[Message] = (),
    cancel: threading.Event | None = None,
) -> dict[Side, Answer | RagError]:
    """Both answers (or each side's error), computed concurrently; `cancel` stops both."""
    results: dict[Side, Answer | RagError] = {}
    for item in side_by_side(rag, raw, question, history, cancel=cancel):
        if item.error is not None:
            results[item.side] = item.error
        elif isinstance(item.event, AnswerEvent):
            results[item.side] = item.event.answer
    return results
