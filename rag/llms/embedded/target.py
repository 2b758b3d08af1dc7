"""EmbeddedTarget: the app's offline model target, over the process-wide pool."""

from __future__ import annotations

import atexit
import threading
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

from langchain_core.messages import BaseMessage

from ...errors import ModelError, RagError
from ...prompts import COMPLETION_STOPS
from ..base import Delta, Finish, GenerationOptions, StreamItem, Target, TargetStatus, Waiting
from .chat_model import EmbeddedGemma
from .model_file import MODEL_NAME, model_path
from .pool import LlamaPool

CHUNK_CHARS = 600

PoolFactory = Callable[[Path, int, int], LlamaPool]
"""Builds a pool from (model file, contexts, threads); `LlamaPool` itself by default."""

_pools: dict[tuple[str, int, int], LlamaPool] = {}
_pools_lock = threading.Lock()
_pool_factory: PoolFactory = LlamaPool


def set_pool_factory(factory: PoolFactory) -> None:
    """Build the process-wide pools with `factory` from now on.

    The benchmarks' seam: `set_pool_factory(functools.partial(LlamaPool, adaptive=True))`
    before the first question runs the whole app with another pool policy
    (bench/variants/sitecustomize.py). Pools already built are kept."""
    global _pool_factory
    with _pools_lock:
        _pool_factory = factory


@atexit.register
def _close_pools() -> None:
    for pool in _pools.values():
        pool.close()


def get_pool(cache_dir: str = "", size: int = 2, threads: int = 0) -> LlamaPool:
    """The process-wide pool: the model is loaded once, whoever asks."""
    with _pools_lock:
        key = (cache_dir, size, threads)
        if key not in _pools:
            _pools[key] = _pool_factory(model_path(cache_dir), size, threads)
        return _pools[key]


class EmbeddedTarget(Target):
    kind = "embedded"
    default_model = MODEL_NAME

    def __init__(
        self, cache_dir: str = "", contexts: int = 2, threads: int = 0, pool: LlamaPool | None = None
    ) -> None:
        self.cache_dir = cache_dir
        self.contexts = contexts
        self.threads = threads
        self._pool = pool  # None: the process-wide pool for these settings

    @property
    def label(self) -> str:
        return "Embedded Gemma 3 270M (llama.cpp, in-process)"

    @property
    def is_small_base_model(self) -> bool:
        return True

    @property
    def chunk_chars(self) -> int | None:
        # On two shared CPU cores the prompt's length is the time to the first token:
        # short chunks keep it short (docs/benchmarks.md measures it).
        return CHUNK_CHARS

    def pool(self) -> LlamaPool:
        return self._pool or get_pool(self.cache_dir, self.contexts, self.threads)

    def chat_model(self, model: str = "", options: GenerationOptions | None = None) -> EmbeddedGemma:
        options = options or GenerationOptions()
        return EmbeddedGemma(
            pool=self.pool(),
            max_tokens=options.max_tokens,
            temperature=options.temperature,
            repeat_penalty=options.repeat_penalty,
            stop=list(dict.fromkeys([*COMPLETION_STOPS, *options.stop])),
        )

    def stream(
        self, messages: Sequence[BaseMessage], model: str = "", options: GenerationOptions | None = None
    ) -> Iterator[StreamItem]:
        chat = self.chat_model(model, options)
        try:
            for chunk in chat.stream(list(messages)):
                if "waiting" in chunk.response_metadata:
                    yield Waiting(ahead=int(chunk.response_metadata["waiting"]))
                if chunk.content:
                    yield Delta(str(chunk.content))
                if chunk.usage_metadata:
                    meta = chunk.response_metadata
                    yield Finish(
                        model=MODEL_NAME,
                        output_tokens=chunk.usage_metadata["output_tokens"],
                        prompt_tokens=chunk.usage_metadata["input_tokens"],
                        done_reason=meta.get("done_reason"),
                        eval_seconds=meta.get("eval_seconds"),
                    )
        except RagError:
            raise
        except (RuntimeError, ValueError, OSError) as exc:
            raise ModelError(
                f"The embedded model failed ({type(exc).__name__}: {exc}).",
                "Try a shorter question or a smaller top-k; restart the app if it persists.",
            ) from None

    def check(self, model: str = "") -> TargetStatus:
        try:
            self.pool()
        except RagError as exc:
            return TargetStatus(False, self.label, MODEL_NAME, exc.message, exc.fix)
        return TargetStatus(
            True, self.label, MODEL_NAME, "Gemma 3 270M answers in-process, offline.", models=[MODEL_NAME]
        )
