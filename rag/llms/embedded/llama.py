"""A llama.cpp context whose evaluation runs behind a CoreGate.

Imported when the first context is created: importing llama_cpp is slow.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from contextlib import nullcontext
from pathlib import Path
from typing import Any

import llama_cpp
import numpy as np
from llama_cpp import Llama
from llama_cpp._internals import LlamaBatch

from .gate import CoreGate
from .logs import quiet_llama_cpp

_load_lock = threading.Lock()


class GatedLlama(Llama):
    """`Llama` whose every evaluation waits for its cores at the gate and runs on
    as many threads as the gate gives it. Without a gate it evaluates as `Llama` does."""

    def __init__(self, *args: Any, gate: CoreGate | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.gate = gate
        self.threads_now: int = self.n_threads  # what the context runs on now

    def eval(self, tokens: Sequence[int]) -> None:
        if self.gate is None:
            return super().eval(tokens)
        step = self.gate.decode_step() if len(tokens) <= 1 else self.gate.prompt()
        with step as threads:
            self._use_threads(threads)
            super().eval(tokens)

    def _use_threads(self, threads: int) -> None:
        if threads != self.threads_now:
            llama_cpp.llama_set_n_threads(self.ctx, threads, threads)
            self.threads_now = threads

    def token_logprobs(self, tokens: Sequence[int], start: int) -> np.ndarray:
        """log P(tokens[i] | tokens[:i]) for every i from `start` on, from one evaluation that
        asks llama.cpp for those positions' logits only (a 262k-word vocabulary makes every
        other position's logits the larger part of the cost). The cache is left empty."""
        if not 0 < start < len(tokens) <= self.n_batch:
            raise ValueError(f"need 0 < start < len(tokens) <= {self.n_batch}")
        self.reset()  # what the context held is gone: no later prompt may reuse it
        memory = llama_cpp.llama_get_memory(self.ctx)
        llama_cpp.llama_memory_clear(memory, True)
        batch = LlamaBatch(n_tokens=len(tokens), embd=0, n_seq_max=1, verbose=False)
        try:
            batch.set_batch(tokens, 0, False)
            for i in range(len(tokens)):
                batch.batch.logits[i] = start - 1 <= i < len(tokens) - 1
            with self.gate.prompt() if self.gate else nullcontext(self.n_threads) as threads:
                self._use_threads(threads)
                self._ctx.decode(batch)
            out = np.empty(len(tokens) - start, dtype=np.float64)
            for j, i in enumerate(range(start - 1, len(tokens) - 1)):
                logits = llama_cpp.llama_get_logits_ith(self.ctx, i)
                row = np.ctypeslib.as_array(logits, shape=(self.n_vocab(),))
                top = float(row.max())
                out[j] = row[tokens[i + 1]] - top - np.log(np.exp(row - top).sum())
            return out
        finally:
            llama_cpp.llama_memory_clear(memory, True)
            batch.close()


def load_llama(path: Path, n_ctx: int, gate: CoreGate) -> GatedLlama:
    """A new context over the model file, its calls behind `gate`."""
    quiet_llama_cpp()
    # Loads are serialised (generation is not): two at once only double the peak
    # memory. The crash once blamed on them was the log callback (logs.quiet_llama_cpp).
    threads = gate.fixed or gate.cores
    with _load_lock:
        return GatedLlama(
            model_path=str(path),
            n_ctx=n_ctx,
            n_threads=threads,
            n_threads_batch=threads,
            verbose=False,
            gate=gate,
        )
