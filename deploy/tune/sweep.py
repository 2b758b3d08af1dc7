"""The sweep: for each concurrency level, a fixed number of requests on exactly `level` workers.

Closed-loop load, like a room of participants: each worker sends its next
request as soon as its last one ends, so `level` requests are in flight at
once. Bounded three ways: a request count per level, a per-level and an
overall time cap (in-flight requests are cut at the cap), and a cancel event.
Progress is reported from the calling thread, never from a worker.
"""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import httpx

from rag.llms.base import Target
from rag.llms.ollama import OllamaTarget
from rag.llms.openai import OLLAMA

from .. import catalog
from .measure import (
    CUT,
    Sample,
    TuneError,
    check_target,
    load_client,
    resolve_api,
    timed_chat,
)
from .prompt import chat_payload
from .report import (
    CANCELLED,
    LEVEL_TIME_CAP,
    NO_SUCCESS,
    TIME_CAP,
    LevelResult,
    Progress,
    SweepSettings,
    TuneReport,
)

ProgressFn = Callable[[Progress], None]
_POLL_S = 0.05  # how often the calling thread looks up from waiting for results
_WARMUP_TOKENS = 8


@dataclass
class _Level:
    """What the workers of one level share."""

    client: httpx.Client
    model: str
    settings: SweepSettings
    planned: int
    seed: int  # first prompt seed: every request in the sweep gets its own context
    t0: float
    deadline: float
    cancel: threading.Event
    results: queue.Queue[Sample]
    api: str = OLLAMA
    claimed: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)

    def claim(self) -> int | None:
        with self.lock:
            if self.claimed >= self.planned or self.cancel.is_set() or time.monotonic() >= self.deadline:
                return None
            self.claimed += 1
            return self.claimed - 1

    def work(self) -> None:
        while (index := self.claim()) is not None:
            payload = chat_payload(
                self.model,
                self.seed + index,
                max_tokens=self.settings.max_tokens,
                chunks=self.settings.chunks,
                chunk_chars=self.settings.chunk_chars,
                api=self.api,
            )
            self.results.put(
                timed_chat(
                    self.client,
                    payload,
                    t0=self.t0,
                    deadline=self.deadline,
                    cancel=self.cancel,
                    read_s=self.settings.read_timeout_s,
                    api=self.api,
                )
            )


def sweep(
    target: OllamaTarget,
    model: str,
    settings: SweepSettings | None = None,
    *,
    cancel: threading.Event | None = None,
    on_progress: ProgressFn | None = None,
) -> TuneReport:
    """Ask which API the target speaks, check it, warm it up, then run every level; stops by
    itself (see module doc). An empty `model`: the catalog's default on Ollama, the server's
    first model on an OpenAI-compatible server.

    Raises TuneError only before the first level (bad settings, unreachable, auth,
    missing model, failed warm-up); after that every failure is a counted result.
    An exception from `on_progress` (a Streamlit rerun, say) sets `cancel`, so no
    worker keeps loading the server, and propagates.
    """
    settings = settings or SweepSettings()
    if problems := settings.problems():
        raise TuneError(" ".join(problems), "Change the tuning settings and try again.")
    cancel = cancel or threading.Event()
    started = time.monotonic()
    deadline = started + settings.time_cap_s

    def progress(phase: str, index: int = 0, result: LevelResult | None = None) -> None:
        if on_progress is None:
            return
        level = result.level if result else 0
        done = len(result.samples) if result else 0
        on_progress(
            Progress(
                phase,
                level,
                index,
                len(settings.levels),
                done,
                result.planned if result else 0,
                result.error_count if result else 0,
                time.monotonic() - started,
            )
        )

    progress("check")
    api, checked = resolve_api(target)
    model = model or _default_model(api, checked)
    check_target(checked, model)
    report = TuneReport(target.url, model, settings, api=api)
    with load_client(target, max(settings.levels)) as client:
        try:
            if settings.warmup:
                progress("warmup")
                _warm_up(client, model, deadline, cancel, api)
            _run_levels(client, report, deadline, cancel, progress)
        except BaseException:
            cancel.set()
            raise
    report.elapsed_s = time.monotonic() - started
    progress("done")
    return report


def _run_levels(
    client: httpx.Client,
    report: TuneReport,
    deadline: float,
    cancel: threading.Event,
    progress: Callable[..., None],
) -> None:
    """Each level in turn, until one is cut short or fails entirely, or the caps say stop."""
    seed = 0
    for index, level in enumerate(sorted(report.settings.levels)):
        if cancel.is_set() or time.monotonic() >= deadline:
            report.stop_reason = CANCELLED if cancel.is_set() else TIME_CAP
            return
        planned = report.settings.requests_for(level)
        level_deadline = min(deadline, time.monotonic() + report.settings.level_cap_s)
        result = run_level(
            client,
            report.model,
            report.settings,
            level,
            planned,
            seed,
            level_deadline,
            cancel,
            lambda r, i=index: progress("level", i, r),
            report.api,
        )
        seed += planned  # every request in the sweep gets its own context
        report.levels.append(result)
        if result.stopped == TIME_CAP and level_deadline < deadline:
            result.stopped = LEVEL_TIME_CAP  # this level's cap, not the sweep's
        if result.stopped:  # a level that hit a cap: higher levels would only be slower
            report.stop_reason = result.stopped
            return
        if result.completed == 0:  # the service is down or full: higher levels only fail harder
            report.stop_reason = NO_SUCCESS
            return


def run_level(
    client: httpx.Client,
    model: str,
    settings: SweepSettings,
    level: int,
    planned: int,
    seed: int,
    deadline: float,
    cancel: threading.Event,
    on_sample: Callable[[LevelResult], None],
    api: str = OLLAMA,
) -> LevelResult:
    """`planned` requests on `level` worker threads; returns when all are done or cut."""
    t0 = time.monotonic()
    shared = _Level(client, model, settings, planned, seed, t0, deadline, cancel, queue.Queue(), api)
    result = LevelResult(level, planned)
    workers = [
        threading.Thread(target=shared.work, name=f"tune-{level}-{n}", daemon=True)
        for n in range(min(level, planned))
    ]
    for worker in workers:
        worker.start()
    while any(w.is_alive() for w in workers) or not shared.results.empty():
        try:
            result.samples.append(shared.results.get(timeout=_POLL_S))
        except queue.Empty:
            continue
        on_sample(result)
    result.wall_s = max((s.end_s for s in result.samples), default=time.monotonic() - t0)
    if len(result.samples) < planned or any(s.error == CUT for s in result.samples):
        result.stopped = CANCELLED if cancel.is_set() else TIME_CAP
    return result


def _default_model(api: str, checked: Target) -> str:
    if api == OLLAMA:
        return catalog.DEFAULT_MODEL
    try:
        return checked.model_name()  # type: ignore[attr-defined]  # the OpenAI target's
    except Exception as exc:
        error = checked.translate(exc, "")
        raise TuneError(error.message, error.fix) from None


def _warm_up(
    client: httpx.Client, model: str, deadline: float, cancel: threading.Event, api: str = OLLAMA
) -> None:
    """One short, untimed chat: loads the model into GPU memory before level 1 is measured."""
    payload = chat_payload(model, max_tokens=_WARMUP_TOKENS, api=api)
    sample = timed_chat(client, payload, t0=time.monotonic(), deadline=deadline, cancel=cancel, api=api)
    if sample.ok or sample.error == CUT:
        return
    raise TuneError(
        f"The warm-up request to {client.base_url} failed ({_describe(sample.error)}).",
        "Wait until the service answers a chat (a cold GPU instance takes a minute or two), then tune again.",
    )


def _describe(error: str) -> str:
    return f"HTTP {error}" if error.isdigit() else error
