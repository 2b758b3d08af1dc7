"""Run the RAG chain and the raw chain at the same time.

Each chain runs in its own worker thread and only produces events into one
queue; the caller's thread consumes them (`side_by_side()` yields them tagged
"rag" or "raw" as they arrive). That keeps every UI call on the caller's thread
— which Streamlit requires — while both answers stream at once. A failure on
one side is reported as that side's error; the other side carries on.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Literal

from .chains import Answer, AnswerEvent, ChainEvent, Message, RagChain, RawChain
from .errors import RagError

Side = Literal["rag", "raw"]


@dataclass
class SideEvent:
    side: Side
    event: ChainEvent | None = None
    error: RagError | None = None


_END = object()


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
    events: queue.Queue = queue.Queue()
    cancel = cancel or threading.Event()
    histories = {"rag": history, "raw": history if raw_history is None else raw_history}

    def work(side: Side, chain: RagChain | RawChain) -> None:
        try:
            for event in chain.stream(question, histories[side], cancel):
                events.put(SideEvent(side, event))
        except RagError as exc:
            events.put(SideEvent(side, error=exc))
        except Exception as exc:  # never let a worker die silently
            events.put(SideEvent(side, error=RagError(f"Unexpected error: {type(exc).__name__}: {exc}")))
        finally:
            events.put(_END)

    chains: dict[Side, RagChain | RawChain] = {"raw": raw} if rag is None else {"rag": rag, "raw": raw}
    threads = [
        threading.Thread(target=work, args=(side, chain), name=f"chain-{side}", daemon=True)
        for side, chain in chains.items()
    ]
    for thread in threads:
        thread.start()
    running = len(threads)
    try:
        while running:
            item = events.get()
            if item is _END:
                running -= 1
            else:
                yield item
    finally:
        if running:  # the consumer stopped early: stop the workers too
            cancel.set()
        for thread in threads:
            thread.join(timeout=5)


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
