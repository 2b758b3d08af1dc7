"""Chat: every question goes to the RAG chain and to the model alone, side by side.

Both answers stream at the same time: two worker threads (rag.side_by_side)
only produce events; this script thread writes them into the two columns, as
Streamlit requires. Stop, or any widget click, ends the run. Streamlit starts
the next run at once, possibly before this one has noticed, so the workers keep
each side's answer so far and the next run takes it from them (`settle`):
what streamed stays on screen, marked stopped.
"""

from __future__ import annotations

import time

import streamlit as st

from pages.common import pacing, render
from pages.common.connection import sidebar
from pages.common.errors import show_error
from pages.common.state import Turn, chat, index, settings, target
from rag.chains import AnswerEvent, QueryEvent, TokenEvent, WaitingEvent
from rag.pipeline import make_chains
from rag.side_by_side import SideBySide

TITLES = {"rag": ":material/travel_explore: RAG", "raw": ":material/psychology: Model only"}


def header() -> st.delta_generator.DeltaGenerator:
    """The title, which index answers, and a slot for Clear chat (drawn last: see clear_button)."""
    top = st.columns([3, 1], vertical_alignment="bottom")
    top[0].title("Chat")
    slot = top[1].empty()
    built = index()
    error = st.session_state.get("shared_index_error")
    if error is not None and built is None:
        show_error(error)
    if built is None:
        st.info(
            "No index yet: the **RAG** column needs pages to search. Build one on the Index page — the "
            "sample guide takes one click and works offline. Until then, questions go to the model alone.",
            icon=":material/info:",
        )
        st.page_link("pages/index.py", label="Build an index", icon=":material/library_add:")
    else:
        st.caption(f"{index_line(built)} · model: {target().label}")
    return slot


def index_line(built) -> str:
    """Which index answers: the leader's shared one or this session's own."""
    info = built.store.info
    whose = f"the leader's index *{built.name}*" if built.shared else "your index"
    if not built.shared and built.name:
        whose += f" *{built.name}*"
    embedder = info.embedder.split(":", 1)[-1]
    return f"Answering from {whose}: {info.chunks} chunks from {info.page_count} pages ({embedder})"


def clear_button(slot: st.delta_generator.DeltaGenerator) -> None:
    """Drawn after the question of this run was answered, so it is enabled by the first answer."""
    if slot.button("Clear chat", icon=":material/delete_sweep:", disabled=not chat().turns, key="clear_chat"):
        chat().turns.clear()
        st.rerun()


def settle(turn: Turn) -> None:
    """Take a turn's answers from its run: final ones, or what streamed before it was stopped."""
    run = turn.run
    if run is None:
        return
    for side, result in run.results().items():
        if getattr(turn, side) is None:
            setattr(turn, side, result)
    turn.stopped = run.stopped
    turn.run = None


def history_view() -> None:
    limit = settings().max_tokens
    for turn in chat().turns:
        settle(turn)  # a run still attached here was interrupted (Stop, or another click)
        with st.chat_message("user"):
            st.markdown(render.safe_markdown(turn.question))
        left, right = st.columns(2)
        with left:
            st.markdown(f"**{TITLES['rag']}**")
            if turn.rag is None and not turn.asked_rag:
                st.caption("No index: not asked.")
            else:
                render.answer(turn.rag, stopped=turn.stopped, max_tokens=limit)
        with right:
            st.markdown(f"**{TITLES['raw']}**")
            render.answer(turn.raw, stopped=turn.stopped, show_sources=False, max_tokens=limit)


class Column:
    """One streaming column: its placeholders and what it has received so far."""

    def __init__(self, side: str) -> None:
        st.markdown(f"**{TITLES[side]}**")
        self.query = st.empty()
        self.text_box = st.empty()
        self.footer = st.empty()
        self.text = ""
        self.drawn = 0.0

    def token(self, text: str) -> None:
        self.text += text
        now = time.monotonic()
        if now - self.drawn >= pacing.interval():
            self.text_box.markdown(render.streaming(self.text))
            self.drawn = now

    def waiting(self, ahead: int) -> None:
        if not self.text:
            questions = "question" if ahead == 1 else "questions"
            self.text_box.caption(
                f":material/hourglass_top: Waiting for the model: {ahead} {questions} ahead"
            )

    def finish(self, result) -> None:
        self.query.empty()
        self.text_box.empty()
        with self.footer.container():
            render.answer(result, show_sources=True, max_tokens=settings().max_tokens)


def ask(question: str) -> None:
    s = settings()
    built = index()
    turn = Turn(question, asked_rag=built is not None)
    conversation = chat()
    rag_history, raw_history = conversation.history("rag"), conversation.history("raw")
    conversation.turns.append(turn)
    with st.chat_message("user"):
        st.markdown(render.safe_markdown(question))
    try:
        rag_chain, raw_chain = make_chains(s, built.retriever if built else None, target())
    except Exception as error:
        show_error(error)
        return
    stop = st.empty()  # only while streaming: any click ends this run, Stop says so
    stop.button("Stop", icon=":material/stop_circle:", key="stop", type="secondary")
    left, right = st.columns(2)
    with left:
        rag_col = Column("rag")
        if rag_chain is None:
            rag_col.text_box.caption("No index: not asked.")
    with right:
        raw_col = Column("raw")
    turn.run = SideBySide(rag_chain, raw_chain, question, rag_history, raw_history=raw_history)
    try:
        with pacing.streaming(2):
            stream(turn.run, {"rag": rag_col, "raw": raw_col})
        stop.empty()
    finally:
        settle(turn)  # also when this run is interrupted: keeps what streamed


def stream(run: SideBySide, columns: dict[str, Column]) -> None:
    for item in run.events():
        col = columns[item.side]
        if item.error is not None:
            col.finish(item.error)
        elif isinstance(item.event, QueryEvent) and item.event.rewritten:
            col.query.caption(f"Searching for: *{render.escape(item.event.query)}*")
        elif isinstance(item.event, WaitingEvent):
            col.waiting(item.event.ahead)
        elif isinstance(item.event, TokenEvent):
            col.token(item.event.text)
        elif isinstance(item.event, AnswerEvent):
            col.finish(item.event.answer)


sidebar()
clear_slot = header()
history_view()
question = st.chat_input("Ask about the indexed pages…")
if question and question.strip():
    ask(question.strip())
clear_button(clear_slot)
