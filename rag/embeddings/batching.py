"""Queries embedded at the same moment go through the model as one batch.

A room asks together: thirty sessions each embedding one question at once fight over the
cores and the GIL, and every one of them finishes late. Here the first caller embeds
what is waiting; callers that arrive while a batch runs wait and go together in the
next one, led by the first of them. Alone, a query is embedded at once, as before.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

MAX_BATCH = 64


@dataclass(eq=False)
class _Job:
    text: str
    vector: Any = None
    error: BaseException | None = None
    lead: bool = False  # this caller runs the next batch
    ready: threading.Event = field(default_factory=threading.Event)  # done, or made leader

    @property
    def done(self) -> bool:
        return self.vector is not None or self.error is not None


class QueryBatcher:
    """`embed(text)` for many threads; `encode(texts)` returns one row per text."""

    def __init__(self, encode: Callable[[list[str]], Any], max_batch: int = MAX_BATCH) -> None:
        self._encode = encode
        self._max = max_batch
        self._lock = threading.Lock()
        self._pending: list[_Job] = []
        self._busy = False

    def embed(self, text: str) -> Any:
        job = _Job(text)
        with self._lock:
            self._pending.append(job)
            if not self._busy:
                self._busy = job.lead = True
        try:
            if not job.lead:
                job.ready.wait()
        except BaseException:  # e.g. Ctrl-C while waiting: leave without keeping the lead
            self._abandon(job)
            raise
        if not job.done:  # made leader: its own job is first in the queue
            self._lead()
        if job.error is not None:
            raise job.error
        return job.vector

    def _abandon(self, job: _Job) -> None:
        with self._lock:
            if job in self._pending:
                self._pending.remove(job)
            if not job.lead or job.done:
                return
        self._hand_over()  # it had just been made leader: pass the lead on

    def _lead(self) -> None:
        try:
            with self._lock:
                batch, self._pending = self._pending[: self._max], self._pending[self._max :]
            self._run(batch)
        finally:  # whatever happened, the next caller gets the lead or the batcher is free
            self._hand_over()

    def _hand_over(self) -> None:
        with self._lock:
            if self._pending:
                self._pending[0].lead = True
                self._pending[0].ready.set()
            else:
                self._busy = False

    def _run(self, batch: list[_Job]) -> None:
        try:
            vectors = self._encode([job.text for job in batch])
            pairs = list(zip(batch, vectors, strict=True))
        except BaseException as error:  # every caller of the batch sees it
            for job in batch:
                job.error = error
                job.ready.set()
            return
        for job, vector in pairs:
            job.vector = vector
            job.ready.set()
