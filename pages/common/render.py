"""Drawing answers: the text, its sources, the rewritten query and the timings."""

from __future__ import annotations

import streamlit as st

from rag.chains import Answer, Source
from rag.errors import RagError

from .errors import show_error


def timings_caption(answer: Answer) -> str:
    t = answer.timings
    if answer.done_reason == "cancelled" and not t.total:
        return "stopped: a partial answer"  # cut off by Stop before the chain could time it
    parts = []
    if t.rewrite is not None:
        parts.append(f"rewrite {t.rewrite:.2f} s")
    if t.retrieve is not None:
        parts.append(f"retrieve {t.retrieve * 1000:.0f} ms")
    if t.first_token is not None:
        parts.append(f"first token {t.first_token:.2f} s")
    parts.append(f"total {t.total:.2f} s")
    if t.tokens_per_s:
        parts.append(f"{t.tokens_per_s:.1f} tokens/s")
    return " · ".join(parts) + f" · {answer.model}"


def sources(items: list[Source], *, expanded: bool = False) -> None:
    if not items:
        return
    with st.expander(f"Sources ({len(items)})", expanded=expanded, icon=":material/menu_book:"):
        for i, source in enumerate(items, 1):
            title = source.title or source.url
            st.markdown(f"**{i}. [{_escape(title)}]({source.url})**")
            snippet = source.content.strip().replace("\n", " ")
            st.caption(snippet[:400] + ("…" if len(snippet) > 400 else ""))


def answer(result: Answer | RagError | None, *, stopped: bool = False, show_sources: bool = True) -> None:
    if result is None:
        st.caption("No answer.")
        return
    if isinstance(result, RagError):
        show_error(result)
        return
    if result.rewritten:
        st.caption(f"Searched for: *{_escape(result.query)}*")
    st.markdown(result.text or "*(empty answer)*")
    if stopped or result.done_reason == "cancelled":
        st.caption(":material/stop_circle: Stopped.")
    st.caption(timings_caption(result))
    if show_sources:
        sources(result.sources)


def _escape(text: str) -> str:
    return text.replace("[", "\\[").replace("]", "\\]").replace("*", "\\*")
