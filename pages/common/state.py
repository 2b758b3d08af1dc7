"""Per-session state and per-process resources.

Session state (one browser tab): the effective settings, the index, the chat.
Process resources (`st.cache_resource`, shared by every tab): the embedding
model and model targets that hold no per-user secret. A target with a bearer
token typed into the sidebar lives in that session only, so tabs never see each
other's index, history or credentials.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import streamlit as st
from langchain_core.embeddings import Embeddings

from rag.chains import Answer
from rag.embeddings import EmbedderSpec, make_embeddings, resolve_spec
from rag.embeddings.cache import CachedEmbeddings
from rag.errors import RagError
from rag.llms import make_target
from rag.llms.base import Target
from rag.retrieval import Retriever
from rag.settings import Settings, fields
from rag.store import SKLearnStore

HOSTED_FLAG = "WORKSHOP_HOSTED"


def is_hosted() -> bool:
    return bool(os.environ.get("K_SERVICE")) or os.environ.get(HOSTED_FLAG, "").lower() in (
        "1",
        "true",
        "yes",
    )


def _secrets() -> Mapping[str, Any]:
    try:  # st.secrets raises when there is no secrets file
        return {k.lower(): v for k, v in st.secrets.items() if not isinstance(v, Mapping)}
    except Exception:
        return {}


def base_settings() -> Settings:
    """Environment, then `st.secrets` (setting names or env names, any case), then hosted-mode rules."""
    settings = Settings.from_env()
    secrets = _secrets()
    values = {}
    for f in fields():
        for key in (f.name, f.metadata["env"].lower()):
            if key in secrets:
                values[f.name] = secrets[key]
    settings = settings.merged(values)
    if is_hosted():
        settings = settings.merged({"allow_private_urls": False})
    return settings


def settings() -> Settings:
    """This session's settings: the base plus what the sidebar changed."""
    if "settings" not in st.session_state:
        st.session_state.settings = base_settings()
    return st.session_state.settings


def update_settings(**values: Any) -> Settings:
    current = settings()
    updated = current.merged(values)
    if updated != current:
        st.session_state.settings = updated
        st.session_state.pop("target", None)
    return updated


@st.cache_resource(show_spinner="Loading the embedding model…")
def _embedder(provider: str, model: str, project: str, region: str, ollama_url: str) -> Embeddings:
    inner, _ = make_embeddings(
        Settings(
            embeddings=provider, embedding_model=model, project=project, region=region, ollama_url=ollama_url
        )
    )
    return inner


def embeddings() -> tuple[Embeddings, EmbedderSpec]:
    """The session's embedder, cached per process and wrapped in the shared vector cache."""
    s = settings()
    spec = resolve_spec(s)
    inner = _embedder(spec.provider, spec.model, s.project, s.region, s.ollama_url)
    return CachedEmbeddings(inner, spec.id), spec


@st.cache_resource
def _shared_target(spec: str, cache_dir: str, contexts: int, threads: int) -> Target:
    return make_target(
        spec, Settings(cache_dir=cache_dir, embedded_contexts=contexts, embedded_threads=threads)
    )


def target() -> Target:
    """The model target: shared when it carries no secret, per session when it does."""
    s = settings()
    if s.ollama_token and s.llm.startswith("ollama"):
        if "target" not in st.session_state:
            st.session_state.target = make_target(s.llm, s)
        return st.session_state.target
    return _shared_target(s.llm, s.cache_dir, s.embedded_contexts, s.embedded_threads)


@dataclass
class Turn:
    question: str
    rag: Answer | RagError | None = None
    raw: Answer | RagError | None = None
    stopped: bool = False


@dataclass
class IndexState:
    store: SKLearnStore
    retriever: Retriever
    report: Any = None  # IndexReport when built here, None when loaded from a file
    name: str = ""


@dataclass
class Chat:
    turns: list[Turn] = field(default_factory=list)

    def history(self, side: str) -> list[dict[str, str]]:
        """The conversation as one column saw it (its own answers), for the chains."""
        messages: list[dict[str, str]] = []
        for turn in self.turns:
            answer = getattr(turn, side)
            if isinstance(answer, Answer) and answer.text:
                messages += [
                    {"role": "user", "content": turn.question},
                    {"role": "assistant", "content": answer.text},
                ]
        return messages


def index() -> IndexState | None:
    return st.session_state.get("index")


def set_index(store: SKLearnStore, report: Any = None, name: str = "") -> IndexState:
    state = IndexState(store, Retriever(store), report, name)
    state.retriever.bm25()  # build the lexical index now, not at the first question
    st.session_state.index = state
    return state


def chat() -> Chat:
    if "chat" not in st.session_state:
        st.session_state.chat = Chat()
    return st.session_state.chat
