"""Embeddings from an Ollama server's `/api/embed` (nomic-embed-text, embeddinggemma...).

The client is built by the same Ollama target the chat uses, so it shares the
auth (an ID token when OLLAMA_URL is the Cloud Run service the chat talks to),
the cold-start retries and the error translation.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from langchain_core.embeddings import Embeddings

from ..errors import EmbeddingError, RagError
from ..llms.ollama import OllamaTarget
from ..settings import Settings


def embedding_target(settings: Settings) -> OllamaTarget:
    from ..llms import make_target

    kind, _, url = settings.llm.partition(":")
    if kind == "cloudrun" and url.rstrip("/") == settings.ollama_url.rstrip("/"):
        target = make_target(settings.llm, settings)
    elif _is_cloud_run(settings.ollama_url):  # the Deploy page's service, chat elsewhere
        target = make_target(f"cloudrun:{settings.ollama_url}", settings)
    else:
        target = make_target(f"ollama:{settings.ollama_url}", settings)
    assert isinstance(target, OllamaTarget)
    return target


def _is_cloud_run(url: str) -> bool:
    """A private Cloud Run service wants a Google ID token, whatever the chat talks to."""
    host = urlsplit(url.strip()).hostname or ""
    return url.strip().startswith("https://") and host.endswith(".run.app")


class OllamaEmbedder(Embeddings):
    def __init__(self, model: str, target: OllamaTarget) -> None:
        from langchain_ollama import OllamaEmbeddings

        kwargs = target.client_kwargs()
        transport = kwargs.pop("transport")
        self.target = target
        self.model = model
        self.inner = OllamaEmbeddings(
            model=model,
            base_url=target.url,
            client_kwargs=kwargs,
            sync_client_kwargs={"transport": transport},
        )

    def _call(self, fn, arg):
        try:
            return fn(arg)
        except Exception as exc:
            error: RagError = self.target.translate(exc, self.model)
            raise EmbeddingError(error.message, error.fix) from None

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        return self._call(self.inner.embed_documents, texts)

    def embed_query(self, text: str) -> list[float]:
        return self._call(self.inner.embed_query, text)


def ollama_embeddings(model: str, settings: Settings) -> Embeddings:
    return OllamaEmbedder(model, embedding_target(settings))
