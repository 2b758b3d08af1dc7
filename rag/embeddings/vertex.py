"""Vertex AI embeddings (text-embedding-005, gemini-embedding-001, ...).

`VertexAIEmbeddings` from langchain-google-vertexai is deprecated since 3.2; the
maintained class is `GoogleGenerativeAIEmbeddings(..., vertexai=True)` from
langchain-google-genai. Credentials come from google-auth's application default
credentials, as in the notebook. Documents and queries are embedded with the
matching task types (RETRIEVAL_DOCUMENT / RETRIEVAL_QUERY).
"""

from __future__ import annotations

from typing import Any

from langchain_core.embeddings import Embeddings

from ..auth import ADC_HINT
from ..errors import AuthError, EmbeddingError, InputError
from ..settings import Settings, env_value

SCOPES = ["https://www.googleapis.com/auth/cloud-platform"]


def vertex_embeddings(model: str, settings: Settings, credentials: Any = None) -> Embeddings:
    import google.auth
    import google.auth.exceptions
    from langchain_google_genai import GoogleGenerativeAIEmbeddings

    project = settings.project
    if credentials is None:
        try:
            credentials, found_project = google.auth.default(scopes=SCOPES)
        except google.auth.exceptions.DefaultCredentialsError:
            raise AuthError("No Google credentials were found for Vertex AI.", ADC_HINT) from None
        project = project or found_project or ""
    if not project:
        raise InputError("Vertex AI embeddings need a Google Cloud project.", "Set GOOGLE_CLOUD_PROJECT.")
    inner = GoogleGenerativeAIEmbeddings(
        model=model,
        vertexai=True,
        project=project,
        location=settings.region,
        credentials=credentials,
        # RAG_VERTEX_BASE_URL (tests: a local server), also under a Settings built by hand
        base_url=settings.vertex_base_url or env_value("vertex_base_url") or None,
    )
    return VertexEmbedder(inner, model)


class VertexEmbedder(Embeddings):
    """Translates the SDK's errors once, here."""

    def __init__(self, inner: Any, model: str) -> None:
        self.inner = inner
        self.model = model

    def _call(self, fn, *args: Any, **kwargs: Any) -> Any:
        from google.genai import errors as genai_errors

        try:
            return fn(*args, **kwargs)
        except Exception as exc:
            api_error = _find(exc, genai_errors.APIError)  # langchain wraps the SDK's error
            if api_error is not None:
                raise _translate(api_error, self.model) from None
            raise EmbeddingError(
                f"Vertex AI could not be reached ({type(exc).__name__}).",
                "Check the network, GOOGLE_CLOUD_REGION and your credentials.",
            ) from None

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        return self._call(self.inner.embed_documents, texts, task_type="RETRIEVAL_DOCUMENT")

    def embed_query(self, text: str) -> list[float]:
        return self._call(self.inner.embed_query, text, task_type="RETRIEVAL_QUERY")


def _find(exc: BaseException | None, kind: type) -> Any:
    seen = 0
    while exc is not None and seen < 10:
        if isinstance(exc, kind):
            return exc
        exc, seen = exc.__cause__ or exc.__context__, seen + 1
    return None


def _translate(exc: Any, model: str) -> EmbeddingError:
    code = getattr(exc, "code", 0)
    status = getattr(exc, "status", "") or ""
    message = getattr(exc, "message", "") or str(exc)
    if code in (401, 403):
        fix = "Enable the Vertex AI API and grant your account roles/aiplatform.user; " + ADC_HINT
        return EmbeddingError(f"Vertex AI refused the request ({code} {status}: {message}).", fix)
    if code == 404:
        return EmbeddingError(
            f"Vertex AI has no embedding model {model!r} in this region.",
            "Use text-embedding-005 or gemini-embedding-001, or another GOOGLE_CLOUD_REGION.",
        )
    if code == 429:
        return EmbeddingError("Vertex AI quota is exhausted (429).", "Wait a minute, or ask for more quota.")
    return EmbeddingError(f"Vertex AI answered {code} {status}: {message}", "Try again later.")
