"""The provider registry."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from langchain_core.embeddings import Embeddings

from ..errors import InputError
from ..settings import Settings


@dataclass(frozen=True)
class EmbedderSpec:
    provider: str
    model: str

    @property
    def id(self) -> str:
        return f"{self.provider}:{self.model}"


@dataclass(frozen=True)
class Provider:
    default_model: str
    factory: Callable[[str, Settings], Embeddings]
    needs: str  # shown when the provider is picked but not configured


def _local(model: str, settings: Settings) -> Embeddings:
    from .local import LocalEmbeddings

    return LocalEmbeddings(model)


def _ollama(model: str, settings: Settings) -> Embeddings:
    from .ollama import ollama_embeddings

    return ollama_embeddings(model, settings)


def _vertex(model: str, settings: Settings) -> Embeddings:
    from .vertex import vertex_embeddings

    return vertex_embeddings(model, settings)


PROVIDERS: dict[str, Provider] = {
    "local": Provider("all-MiniLM-L6-v2", _local, "nothing: the model ships with the app"),
    "ollama": Provider("nomic-embed-text", _ollama, "an Ollama server (OLLAMA_URL)"),
    "vertex": Provider(
        "text-embedding-005", _vertex, "a Google Cloud project (GOOGLE_CLOUD_PROJECT) and credentials"
    ),
}


def resolve_spec(settings: Settings) -> EmbedderSpec:
    provider = settings.embeddings
    if provider not in PROVIDERS:
        raise InputError(
            f"Unknown embedding provider {provider!r}.", f"Choose one of: {', '.join(PROVIDERS)}."
        )
    return EmbedderSpec(provider, settings.embedding_model or PROVIDERS[provider].default_model)


def make_embeddings(settings: Settings) -> tuple[Embeddings, EmbedderSpec]:
    spec = resolve_spec(settings)
    return PROVIDERS[spec.provider].factory(spec.model, settings), spec
