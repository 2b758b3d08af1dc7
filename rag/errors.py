"""Errors a person can act on.

Every failure that leaves `rag/` is one of these: a sentence saying what went
wrong (`message`) and one saying what to do about it (`fix`). Library code
translates third-party exceptions into them once, at the boundary where they
happen (HTTP fetching, model clients, the index file), so callers — the CLI and
the Streamlit pages — only ever show `str(error)` and never a stack trace.
"""

from __future__ import annotations


class RagError(Exception):
    """Base class: `message` is what happened, `fix` is what to do next."""

    def __init__(self, message: str, fix: str = "") -> None:
        super().__init__(message)
        self.message = message
        self.fix = fix

    def __str__(self) -> str:
        return f"{self.message} {self.fix}".strip()


class InputError(RagError):
    """Bad arguments or input files (an unknown splitter, an unreadable URL list...)."""


class FetchError(RagError):
    """One URL could not be turned into documents; `reason` is a short machine-friendly code."""

    def __init__(
        self, url: str, reason: str, message: str, fix: str = "", *, retry_after: float = 0.0
    ) -> None:
        super().__init__(message, fix)
        self.url = url
        self.reason = reason
        self.retry_after = retry_after  # seconds a busy server asked to wait (Retry-After), or 0


class IndexFileError(RagError):
    """An index file is missing, unreadable, or from another format version."""


class EmbedderMismatch(RagError):
    """The index was built with another embedder than the one asked to query it."""


class EmbeddingError(RagError):
    """The embedding provider failed (unreachable, unknown model, auth)."""


class TargetUnreachable(RagError):
    """The model server could not be reached at all."""


class ModelNotFound(RagError):
    """The server answered but does not have the model."""


class AuthError(RagError):
    """Credentials are missing, expired or rejected."""


class ServiceStarting(RagError):
    """The server kept answering 429/503 (a cold Cloud Run instance, or a full queue)."""


class ModelError(RagError):
    """The model server reported an error while answering."""


class Cancelled(RagError):
    """The caller asked to stop."""

    def __init__(self, message: str = "Stopped.", fix: str = "") -> None:
        super().__init__(message, fix)
