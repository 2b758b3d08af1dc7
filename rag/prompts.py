"""The prompts: the notebook's two templates, and the completion layout for base models.

`ANSWER_PROMPT` and `QUERY_REWRITE_PROMPT` are the notebook's
`answer_generation_template` and `query_rewrite_template`, word for word. Chat
models (Ollama's Gemma 2 9B and newer) get them as chat messages.

The embedded Gemma 3 270M is a small *base* model with no chat template: given
chat turns it drifts. `render_completion()` lays the same messages out as a
document it can continue — instructions, numbered context, then
"Question: ... / Answer:" — and `COMPLETION_STOPS` ends the answer before it
starts inventing the next question.
"""

from __future__ import annotations

from collections.abc import Sequence

from langchain_core.documents import Document
from langchain_core.messages import BaseMessage
from langchain_core.prompts import ChatPromptTemplate, MessagesPlaceholder

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

ANSWER_PROMPT = ChatPromptTemplate.from_messages(
    [("system", ANSWER_SYSTEM), MessagesPlaceholder(variable_name="messages")]
)
QUERY_REWRITE_PROMPT = ChatPromptTemplate.from_messages(
    [("system", REWRITE_SYSTEM), MessagesPlaceholder(variable_name="messages")]
)
RAW_PROMPT = ChatPromptTemplate.from_messages(
    [("system", RAW_SYSTEM), MessagesPlaceholder(variable_name="messages")]
)

COMPLETION_STOPS = ["\nQuestion:", "\nQ:", "\nContext:", "\n\n\n", "<end_of_turn>", "<start_of_turn>"]


def format_context(docs: Sequence[Document]) -> str:
    """The retrieved chunks, numbered, each with its title; what {context} becomes."""
    parts = []
    for i, doc in enumerate(docs, 1):
        title = doc.metadata.get("title") or doc.metadata.get("source", "")
        parts.append(f"[{i}] {title}\n{doc.page_content.strip()}")
    return "\n\n".join(parts)


def render_completion(messages: Sequence[BaseMessage]) -> str:
    """Chat messages as a plain document a base model continues with the answer."""
    lines: list[str] = []
    for message in messages:
        text = str(message.content).strip()
        if message.type == "system":
            lines.append(_system_block(text))
        elif message.type in ("human", "user"):
            lines.append(f"Question: {text}")
        elif message.type in ("ai", "assistant"):
            lines.append(f"Answer: {text}\n")
    lines.append("Answer:")
    return "\n".join(lines)


def _system_block(text: str) -> str:
    """The notebook's system text, with the context moved under its own heading."""
    for lead in (ANSWER_SYSTEM.split("{context}")[0].strip(),):
        if text.startswith(lead):
            context = text[len(lead) :].strip()
            instructions = (
                "Answer the question using the context below. Quote the relevant facts. "
                "If the context does not contain the answer, say: I don't know."
            )
            return f"{instructions}\n\nContext:\n{context}\n"
    return text + "\n"
