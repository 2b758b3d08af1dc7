"""Embedding providers behind one interface.

Every provider is a LangChain `Embeddings` (`embed_documents`, `embed_query`).
`make_embeddings(settings)` picks one by name from `PROVIDERS`; adding a
provider means adding one module and one line there. Each index records the
`EmbedderSpec.id` that built it, so a query with another embedder is refused.
"""

from __future__ import annotations

from .base import PROVIDERS, EmbedderSpec, make_embeddings, resolve_spec
from .cache import CachedEmbeddings, embed_array

__all__ = ["PROVIDERS", "CachedEmbeddings", "EmbedderSpec", "embed_array", "make_embeddings", "resolve_spec"]
