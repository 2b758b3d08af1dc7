"""The prompts: the notebook's two templates, and the completion layout for base models.

`ANSWER_PROMPT` and `QUERY_REWRITE_PROMPT` are the notebook's
`answer_generation_template` and `query_rewrite_template`, word for word. Chat
models (Ollama's Gemma 2 9B and newer) get them as chat messages.

The embedded Gemma 3 270M is a small *base* model with no chat template: given
chat turns it drifts, and it ignores instructions. `render_completion()` lays the
same messages out as a document it can continue — the numbered context, the
conversation as "Question: ... / Answer: ...", and for RAG an answer that opens a
quotation of the context — and `COMPLETION_STOPS` ends the answer before it starts
inventing the next question.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

from langchain_core.documents import Document
from langchain_core.messages import BaseMessage
from langchain_core.prompts import ChatPromptTemplate, MessagesPlaceholder, SystemMessagePromptTemplate

from .evidence import Evidence

ANSWER_SYSTEM = (
    "You are an assistant for question answering-tasks. "
    "Use the following pieces of retrieved context to answer the question. "
    "If you don't know the answer, just say that you don't know. "
    "{context}"
)
REWRITE_SYSTEM = (
    "Rewrite a query to a semantic search engine using the current conversation. "
    "Provide only the rewritten query as output."
)
RAW_SYSTEM = "You are a helpful assistant. Answer the question concisely."

# Each prompt's system message says which prompt it is (`additional_kwargs["prompt"]`), so
# render_completion() knows a RAG prompt by that flag, not by the wording of its text.
# Chat APIs send only a message's role and content, so the flag never reaches a server.
PROMPT_KIND = "prompt"
PromptKind = Literal["answer", "rewrite", "raw"]


def _prompt(kind: PromptKind, system: str) -> ChatPromptTemplate:
    tagged = SystemMessagePromptTemplate.from_template(system, additional_kwargs={PROMPT_KIND: kind})
    return ChatPromptTemplate.from_messages([tagged, MessagesPlaceholder(variable_name="messages")])


ANSWER_PROMPT = _prompt("answer", ANSWER_SYSTEM)
QUERY_REWRITE_PROMPT = _prompt("rewrite", REWRITE_SYSTEM)
RAW_PROMPT = _prompt("raw", RAW_SYSTEM)

# What a RAG answer says when the retrieved pages do not answer the question
# (says_dont_know() in compare.py recognises it).
NOT_FOUND = "I don't know: the indexed pages do not say."

COMPLETION_STOPS = ["\nQuestion:", "\nQ:", "\nContext:", "\n\n\n", "<end_of_turn>", "<start_of_turn>"]
# With context, the base model is asked to copy its answer out of the context, as a
# quotation: it copies far more reliably than it paraphrases (bench: docs/benchmarks.md),
# and the closing quote ends the answer.
QUOTED_ANSWER = 'Answer (copied from the context): "'


def format_context(docs: Sequence[Document], max_chars: int | None = None) -> str:
    """The retrieved chunks, numbered, each with its title; what {context} becomes.

    `max_chars` caps each chunk (a small model's prompt must stay short to answer fast).
    """
    parts = []
    for i, doc in enumerate(docs, 1):
        title = doc.metadata.get("title") or doc.metadata.get("source", "")
        text = doc.page_content.strip()
        if max_chars is not None and len(text) > max_chars:
            text = text[:max_chars].rsplit(" ", 1)[0] + " …"
        parts.append(f"[{i}] {title}\n{text}")
    return "\n\n".join(parts)


def format_evidence(evidence: Sequence[Evidence]) -> str:
    """Sentences chosen from the retrieved chunks (evidence.py), numbered, best first."""
    return "\n\n".join(f"[{i}] {e.title}\n{e.text}" for i, e in enumerate(evidence, 1))


def render_completion(messages: Sequence[BaseMessage]) -> tuple[str, list[str]]:
    """Chat messages as a plain document a base model continues with the answer.

    Returns the prompt and extra stop sequences (the closing quote of a quoted answer).
    """
    lines: list[str] = []
    with_context = False
    for message in messages:
        text = str(message.content).strip()
        if message.type == "system":
            block, with_context = _system_block(text, message.additional_kwargs.get(PROMPT_KIND))
            if block:
                lines.append(block)
        elif message.type in ("human", "user"):
            lines.append(f"Question: {text}")
        elif message.type in ("ai", "assistant"):
            lines.append(f"Answer: {text}\n")
    lines.append(QUOTED_ANSWER if with_context else "Answer:")
    return "\n".join(lines), (['"', "\n\n"] if with_context else [])


def _system_block(text: str, kind: str | None) -> tuple[str, bool]:
    """The notebook's answer prompt becomes a context block; other system text stays as is."""
    if kind == "answer":
        lead = ANSWER_SYSTEM.split("{context}")[0].strip()
        return f"Context:\n{text.removeprefix(lead).strip()}\n", True
    if kind == "raw":
        return "", False  # a base model answers a bare question better than it follows instructions
    return text + "\n", False
