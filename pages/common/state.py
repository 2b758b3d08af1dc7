"""Per-session state and per-process resources.

Session state (one browser tab): the effective settings, the index, the chat.
Process resources (`st.cache_resource`, shared by every tab): the embedding
model, model targets that hold no per-user secret, and the leader's index
(`RAG_INDEX`, read-only). A target with a bearer token typed into the sidebar
lives in that session only, so tabs never see each other's own index, history
or credentials.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
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
from rag.settings import Settings
from rag.side_by_side import SideBySide
from rag.store import SKLearnStore, read_index


def base_settings() -> Settings:
    """The defaults, the environment, `st.secrets`, then hosted mode (docs/settings.md)."""
    return Settings.load(os.environ, st.secrets)


def is_hosted() -> bool:
    """Hosted mode, as the operator set it (`WORKSHOP_HOSTED`, `K_SERVICE`, `st.secrets`)."""
    return base_settings().hosted


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


# A shared embedder is built from these settings only, so no session's token or chat
# target reaches another session through it (the Ollama embedder asks for no token).
EMBEDDER_SETTINGS = ("embeddings", "embedding_model", "project", "region", "vertex_base_url", "ollama_url")


@st.cache_resource(show_spinner="Loading the embedding model…")
def _embedder(key: tuple[Any, ...]) -> Embeddings:
    inner, _ = make_embeddings(Settings().merged(dict(zip(EMBEDDER_SETTINGS, key, strict=True))))
    return inner


def _embedder_for(s: Settings, spec: EmbedderSpec) -> Embeddings:
    s = s.merged({"embeddings": spec.provider, "embedding_model": spec.model})
    return _embedder(tuple(getattr(s, name) for name in EMBEDDER_SETTINGS))


def embeddings() -> tuple[Embeddings, EmbedderSpec]:
    """The session's embedder, cached per process and wrapped in the shared vector cache."""
    s = settings()
    spec = resolve_spec(s)
    return CachedEmbeddings(_embedder_for(s, spec), spec.id), spec


def embeddings_for(embedder_id: str) -> tuple[Embeddings, EmbedderSpec]:
    """The embedder that built an index (`local:all-MiniLM-L6-v2`), whatever the sidebar says."""
    s = settings()
    provider, _, model = embedder_id.partition(":")
    spec = resolve_spec(s.merged({"embeddings": provider, "embedding_model": model}))
    return CachedEmbeddings(_embedder_for(s, spec), spec.id), spec


# What make_target() reads from the settings: a shared target's cache key, so two
# sessions share a target exactly when it would be built the same (a bare `ollama`
# lost OLLAMA_URL when the key missed it). tests/test_settings_docs.py checks the list.
TARGET_SETTINGS = (
    "ollama_url",
    "ollama_token",
    "openai_token",
    "cache_dir",
    "embedded_contexts",
    "embedded_threads",
)


@st.cache_resource
def _shared_target(spec: str, key: tuple[Any, ...], _settings: Settings) -> Target:
    """Built from the session's full settings; `key` decides sharing (`_settings` is not hashed)."""
    return make_target(spec, _settings)


def target() -> Target:
    """The model target: shared when it carries no secret, per session when it does."""
    s = settings()
    secret = (s.ollama_token and s.llm.startswith("ollama")) or (
        s.openai_token and s.llm.startswith("openai")
    )
    if secret:
        if "target" not in st.session_state:
            st.session_state.target = make_target(s.llm, s)
        return st.session_state.target
    return _shared_target(s.llm, tuple(getattr(s, name) for name in TARGET_SETTINGS), s)


@dataclass
class Turn:
    question: str
    rag: Answer | RagError | None = None
    raw: Answer | RagError | None = None
    stopped: bool = False
    asked_rag: bool = False  # False: there was no index, only the model was asked
    run: SideBySide | None = None  # while the answers stream; the chat page settles it


@dataclass
class IndexState:
    store: SKLearnStore
    retriever: Retriever
    report: Any = None  # IndexReport when built here, None when loaded from a file
    name: str = ""
    shared: bool = False  # the leader's index (RAG_INDEX): every session reads it, none changes it


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
    """The index that answers: the session's own, else the leader's shared one (if set)."""
    own = st.session_state.get("index")
    if own is not None:
        return own
    try:
        return shared_index(settings().index)
    except RagError as error:  # shown by the pages (shared_index_error); the chat goes on without it
        st.session_state["shared_index_error"] = error
        return None


def set_index(store: SKLearnStore, report: Any = None, name: str = "") -> IndexState:
    state = IndexState(store, Retriever(store), report, name)
    state.retriever.prepare()  # what the first question would build, built now
    st.session_state.index = state
    return state


# The leader's index ------------------------------------------------------------
#
# Loaded once per process however many sessions ask at once (a room opens the app
# within seconds), and shared: sessions hold a reference, never a copy. A failed
# load is kept too, so thirty sessions do not each re-read a bad file; a new file
# needs a restart (a new revision on Cloud Run).


class _Once:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.done = False
        self.value: IndexState | None = None
        self.error: RagError | None = None


_SHARED: dict[str, _Once] = {}
_SHARED_LOCK = threading.Lock()
Opener = Callable[[str], tuple[Embeddings, EmbedderSpec]]


def shared_index(path: str, opener: Opener | None = None) -> IndexState | None:
    """The index file at `path` (RAG_INDEX), opened once per process; None when no path is set.

    `opener` gives the embedder for an embedder id (default: the process's cached embedders).
    """
    if not path:
        return None
    with _SHARED_LOCK:
        once = _SHARED.setdefault(path, _Once())
    with once.lock:  # the first session loads; the others wait for it, then share it
        if not once.done:
            try:
                once.value = _open_shared(path, opener or embeddings_for)
            except RagError as error:
                once.error = error
            once.done = True
    if once.error is not None:
        raise once.error
    return once.value


def _open_shared(path: str, opener: Opener) -> IndexState:
    parts = read_index(path, name=f"The shared index (RAG_INDEX={path})")
    embedder, spec = opener(parts[0].embedder)
    store = SKLearnStore.from_index(parts, embedder, spec.id, name=os.path.basename(path))
    state = IndexState(store, Retriever(store), None, os.path.basename(path), shared=True)
    state.retriever.prepare()
    return state


def chat() -> Chat:
    if "chat" not in st.session_state:
        st.session_state.chat = Chat()
    return st.session_state.chat
