"""A pool of llama.cpp contexts over one model file, lent one generation at a time.

One context answers one request at a time and the chat asks the RAG chain and the
raw model at once, so a few contexts are shared by the whole process. A generation
joins a first-come-first-served queue (`LlamaPool.queue`), waits for its turn
(`Turn.wait` says how many are ahead), borrows a context (`Turn.hold`) and gives
it back.
"""

from __future__ import annotations

import collections
import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from .gate import CoreGate

if TYPE_CHECKING:
    from .llama import GatedLlama

N_CTX = 4096


@dataclass(eq=False)
class PooledLlama:
    """One context of a LlamaPool and what the pool knows of it."""

    llama: GatedLlama
    holds: str = ""  # the text its KV cache holds (prompt and answer)

    def close(self) -> None:
        self.llama.close()


class LlamaPool:
    """Up to `size` llama.cpp contexts over one model file, created on demand.

    `threads` = 0: the CoreGate hands each llama.cpp call its cores (a prompt gets all
    of them, a decoding step its share); an explicit count pins every call.
    `adaptive` = True: a lone generation decodes on every core (see CoreGate).
    `affinity` = False: a prompt gets the least recently used context even when
    another holds its conversation so far (a baseline for benchmarks).
    """

    def __init__(
        self,
        path: Path,
        size: int = 2,
        threads: int = 0,
        n_ctx: int = N_CTX,
        adaptive: bool = False,
        affinity: bool = True,
    ) -> None:
        self.path = path
        self.size = max(1, size)
        cores = os.cpu_count() or 1
        self.gate = CoreGate(max(cores, threads * self.size), self.size, fixed=threads, adaptive=adaptive)
        self.n_ctx = n_ctx
        self.affinity = affinity
        self._free: list[PooledLlama] = []
        self._available = threading.Condition()
        self._created = 0
        self._queue: collections.deque[Turn] = collections.deque()

    def _new(self) -> PooledLlama:
        from .llama import load_llama

        return PooledLlama(load_llama(self.path, self.n_ctx, self.gate))

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
            chosen = self._free[0]
            if self.affinity:
                chosen = max(self._free, key=lambda llm: reusable(llm.holds, turn.prompt))
            self._free.remove(chosen)
            turn.llm = chosen
        elif self._created < self.size:
            self._created += 1  # the turn creates its context
        else:
            return False
        self._queue.popleft()
        turn.granted = True
        self._available.notify_all()  # the next in line is now the head
        return True

    def _give_back(self, llm: PooledLlama) -> None:
        with self._available:
            self._free.append(llm)
            self._available.notify_all()

    def _uncreate(self) -> None:
        """A granted right to create a context was not used."""
        with self._available:
            self._created -= 1
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
    def context(self, prompt: str = "") -> Iterator[PooledLlama]:
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


def reusable(holds: str, prompt: str) -> int:
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
        self.llm: PooledLlama | None = None  # set when granted a free context; None: create one
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
    def hold(self) -> Iterator[PooledLlama]:
        if not self.granted:
            for _ahead in self.wait(every=None):
                pass
        self._held = True
        if self.llm is None:
            try:
                self.llm = self.pool._new()
            except BaseException:
                self.pool._uncreate()
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
                self.pool._uncreate()
