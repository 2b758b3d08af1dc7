"""The CoreGate: which of the pool's llama.cpp calls runs now, and on how many cores."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager


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
