"""A llama.cpp context whose evaluation runs behind a CoreGate.

Imported when the first context is created: importing llama_cpp is slow.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import llama_cpp
from llama_cpp import Llama

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
            if threads != self.threads_now:
                llama_cpp.llama_set_n_threads(self.ctx, threads, threads)
                self.threads_now = threads
            super().eval(tokens)


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
