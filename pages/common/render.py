"""Drawing answers: the text, its sources, the rewritten query and the timings.

Model output is untrusted Markdown: a line starting with `#` would become a
heading big enough to fill a projector, `$…$` would be typeset as maths, and a
small model sometimes emits its own special tokens (`<end_of_turn>`). `safe_markdown`
keeps lists, emphasis and code, and turns the rest into plain text.
"""

from __future__ import annotations

import re
from urllib.parse import quote

import streamlit as st

from rag.chains import Answer, Source
from rag.errors import RagError

from .errors import show_error

# Chat-template tokens (Gemma's `<start_of_turn>`, `<end_of_image>`, `<eos>`, `<unused12>`;
# ChatML's `<|im_end|>`): never part of an answer.
SPECIAL_TOKEN = re.compile(
    r"<(?:start|end)_of_[a-z_]+>|<(?:bos|eos|pad|unk|mask|image_soft_token|unused\d+)>|<\|[a-z_]+\|>"
)
FENCE = re.compile(r"^\s{0,3}(```|~~~)")
HEADING = re.compile(r"^(\s{0,3})(#{1,6})(?=\s|$)\s*(.*?)\s*#*\s*$")
UNDERLINE = re.compile(r"^(\s{0,3})(=+|-+)\s*$")  # under a line of text it makes that line a heading
MIN_RATE_TOKENS = 4  # a tokens/s over fewer tokens is noise ("0.1 tokens/s" for a one-word answer)
MIN_REWRITE_S = 0.01  # below this no model was asked (the search used the history as it is)


def strip_special_tokens(text: str) -> str:
    return SPECIAL_TOKEN.sub("", text)


def safe_markdown(text: str) -> str:
    """Model text as Markdown that cannot make headings, maths or chat-template tokens.

    Headings become bold lines; `$` and setext underlines are escaped; fenced code is left alone.
    """
    lines, in_code = [], False
    for line in strip_special_tokens(text).split("\n"):
        if FENCE.match(line):
            in_code = not in_code
        elif not in_code:
            line = _safe_line(line)
        lines.append(line)
    if in_code:  # an answer cut inside a code block: close it, so what follows is not code
        lines.append("```")
    return "\n".join(lines)


def _safe_line(line: str) -> str:
    heading = HEADING.match(line)
    if heading:
        indent, _, title = heading.groups()
        return f"{indent}**{title}**" if title else ""
    underline = UNDERLINE.match(line)
    if underline:
        indent, marks = underline.groups()
        return indent + "\\" + marks
    return line.replace("$", "\\$")


def timings_caption(answer: Answer) -> str:
    t = answer.timings
    if answer.done_reason == "cancelled" and not t.total:
        return ""  # cut off by Stop before the chain could time it
    parts = []
    if t.rewrite is not None and (answer.rewritten or t.rewrite >= MIN_REWRITE_S):
        parts.append(f"rewrite {t.rewrite:.2f} s")
    if t.retrieve is not None:
        parts.append(f"retrieve {t.retrieve * 1000:.0f} ms")
    if t.first_token is not None:
        parts.append(f"first token {t.first_token:.2f} s")
    parts.append(f"total {t.total:.2f} s")
    if t.tokens_per_s and (t.output_tokens or 0) >= MIN_RATE_TOKENS:
        parts.append(f"{t.tokens_per_s:.1f} tokens/s")
    return " · ".join(parts) + (f" · {answer.model}" if answer.model else "")


def source_title(source: Source) -> str:
    """The page title and, when the chunk has one, its section: sources from one page differ."""
    title = source.title or source.url
    heading = getattr(source, "heading", "")  # a path: "Page title › Section › Subsection"
    if not heading or heading == title:
        return title
    page = heading.split(" › ")[0]  # the page's own h1, usually the start of its <title>
    return heading if title.startswith(page) else f"{title} › {heading}"


def link_target(url: str) -> str:
    """A source URL as a Markdown link target: spaces and parentheses %-encoded, which a
    browser reads as the same address (sources keep the spelling the user gave the page)."""
    return quote(url, safe="/:?#[]@!$&'*+,;=%~-._")


def sources(items: list[Source], *, expanded: bool = False) -> None:
    if not items:
        return
    with st.expander(f"Sources ({len(items)})", expanded=expanded, icon=":material/menu_book:"):
        for i, source in enumerate(items, 1):
            st.markdown(f"**{i}. [{escape(source_title(source))}]({link_target(source.url)})**")
            snippet = source.content.strip().replace("\n", " ")
            st.caption(escape(snippet[:400]) + ("…" if len(snippet) > 400 else ""))


def cut_note(answer: Answer, max_tokens: int | None) -> str:
    """Say so when the answer stopped at the token limit rather than at its end."""
    if answer.done_reason != "length":
        return ""
    limit = max_tokens or answer.timings.output_tokens
    return f"*(cut at the {limit}-token limit)*" if limit else "*(cut at the token limit)*"


def answer(
    result: Answer | RagError | None,
    *,
    stopped: bool = False,
    show_sources: bool = True,
    max_tokens: int | None = None,
) -> None:
    if result is None:
        st.caption("No answer.")
        return
    if isinstance(result, RagError):
        show_error(result)
        return
    if result.rewritten:
        st.caption(f"Searched for: *{escape(result.query)}*")
    text = safe_markdown(result.text)
    cancelled = stopped or result.done_reason == "cancelled"
    if text.strip():
        st.markdown("\n\n".join(filter(None, [text, cut_note(result, max_tokens)])))
    elif not cancelled:
        st.markdown("*(empty answer)*")
    if cancelled:
        note = "Stopped." if text.strip() else "Stopped before the answer began."
        st.caption(f":material/stop_circle: {note}")
    timings = timings_caption(result)
    if timings:
        st.caption(timings)
    if show_sources:
        sources(result.sources)


def streaming(text: str) -> str:
    """A column's text while it streams, with a cursor."""
    return safe_markdown(text) + " ▌"


def escape(text: str) -> str:
    for char in "\\[]*_$`#<":
        text = text.replace(char, "\\" + char)
    return text
