"""Chat: every question goes to the RAG chain and to the model alone, side by side.

Both answers stream at the same time: two worker threads (rag.side_by_side)
only produce events; this script thread writes them into the two columns, as
Streamlit requires. Stop, or any widget click, ends the run; what streamed so
far is kept.
"""

from __future__ import annotations

import threading
import time

import streamlit as st

from pages.common import render
from pages.common.connection import sidebar
from pages.common.errors import show_error
from pages.common.state import Turn, chat, index, settings, target
from rag.chains import Answer, AnswerEvent, QueryEvent, SourcesEvent, Timings, TokenEvent
from rag.pipeline import make_chains
from rag.side_by_side import side_by_side

REFRESH_S = 0.05  # redraw a streaming column at most this often
TITLES = {"rag": ":material/travel_explore: RAG", "raw": ":material/psychology: Model only"}


def header() -> None:
    top = st.columns([4, 1])
    top[0].title("Chat")
    if top[1].button("Clear chat", icon=":material/delete_sweep:", disabled=not chat().turns):
        chat().turns.clear()
        st.rerun()
    built = index()
    if built is None:
        st.info(
            "No index yet: the **RAG** column needs pages to search. Build one on the Index page — the "
            "sample guide takes one click and works offline. Until then, questions go to the model alone.",
            icon=":material/info:",
        )
        st.page_link("pages/index.py", label="Build an index", icon=":material/library_add:")
    else:
        info = built.store.info
        st.caption(
            f"Searching {info.chunks} chunks from {info.page_count} pages "
            f"({info.embedder}) · model: {target().label}"
        )


def history_view() -> None:
    for turn in chat().turns:
        with st.chat_message("user"):
            st.markdown(turn.question)
        left, right = st.columns(2)
        with left:
            st.markdown(f"**{TITLES['rag']}**")
            if index() is None and turn.rag is None:
                st.caption("No index: not asked.")
            else:
                render.answer(turn.rag, stopped=turn.stopped)
        with right:
            st.markdown(f"**{TITLES['raw']}**")
            render.answer(turn.raw, stopped=turn.stopped, show_sources=False)


class Column:
    """One streaming column: its placeholders and what it has received so far."""

    def __init__(self, side: str) -> None:
        st.markdown(f"**{TITLES[side]}**")
        self.query = st.empty()
        self.text_box = st.empty()
        self.footer = st.empty()
        self.text = ""
        self.drawn = 0.0
        self.sources: list = []
        self.query_text = ""

    def token(self, text: str) -> None:
        self.text += text
        now = time.monotonic()
        if now - self.drawn >= REFRESH_S:
            self.text_box.markdown(self.text + " ▌")
            self.drawn = now

    def finish(self, result) -> None:
        self.query.empty()
        self.text_box.empty()
        with self.footer.container():
            render.answer(result, show_sources=True)


def ask(question: str) -> None:
    s = settings()
    built = index()
    turn = Turn(question)
    conversation = chat()
    rag_history, raw_history = conversation.history("rag"), conversation.history("raw")
    conversation.turns.append(turn)
    with st.chat_message("user"):
        st.markdown(question)
    try:
        rag_chain, raw_chain = make_chains(s, built.retriever if built else None, target())
    except Exception as error:
        show_error(error)
        turn.raw = None
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
    columns = {"rag": rag_col, "raw": raw_col}
    cancel = threading.Event()
    finished = set()
    try:
        for item in side_by_side(
            rag_chain, raw_chain, question, rag_history, cancel, raw_history=raw_history
        ):
            col = columns[item.side]
            if item.error is not None:
                setattr(turn, item.side, item.error)
                finished.add(item.side)
                col.finish(item.error)
            elif isinstance(item.event, QueryEvent) and item.event.rewritten:
                col.query_text = item.event.query
                col.query.caption(f"Searching for: *{item.event.query}*")
            elif isinstance(item.event, SourcesEvent):
                col.sources = item.event.sources
            elif isinstance(item.event, TokenEvent):
                col.token(item.event.text)
            elif isinstance(item.event, AnswerEvent):
                setattr(turn, item.side, item.event.answer)
                finished.add(item.side)
                col.finish(item.event.answer)
        stop.empty()
    finally:
        if len(finished) < len(columns) - (rag_chain is None):
            cancel.set()  # the run was interrupted (Stop, or another click): keep what streamed
            turn.stopped = True
            for side, col in columns.items():
                if getattr(turn, side) is None and (col.text or col.sources):
                    setattr(
                        turn,
                        side,
                        Answer(
                            text=col.text,
                            model="",
                            sources=col.sources,
                            query=col.query_text,
                            rewritten=bool(col.query_text),
                            timings=Timings(),
                            done_reason="cancelled",
                        ),
                    )


sidebar()
header()
history_view()
question = st.chat_input("Ask about the indexed pages…")
if question and question.strip():
    ask(question.strip())
