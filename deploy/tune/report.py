"""What a sweep asked for and what it measured: settings, progress, per-level results.

Percentiles are nearest-rank (an observed value, never interpolated), so with
8 requests p95 is the slowest one. Throughput is completed requests over the
level's wall time; output tokens/s is the sum of Ollama's `eval_count` over
the same wall time (what the GPU delivered to everyone); decode tokens/s is the
mean per-request `eval_count / eval_duration` (what one reader sees).
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from statistics import fmean
from typing import Any

from .measure import BUSY, CUT, Sample
from .prompt import CHUNK_CHARS, CHUNKS, MAX_TOKENS

LEVELS = (1, 2, 4, 8, 16)

# Why a sweep ended.
COMPLETED, CANCELLED, TIME_CAP, LEVEL_TIME_CAP, NO_SUCCESS = (
    "completed",
    "cancelled",
    "time cap",
    "level time cap",
    "no successful request",
)


@dataclass(frozen=True)
class SweepSettings:
    levels: tuple[int, ...] = LEVELS
    requests: int | None = None  # per level; None: max(8, 2 x level)
    max_tokens: int = MAX_TOKENS  # num_predict
    time_cap_s: float = 600.0  # the whole sweep
    level_cap_s: float = 180.0  # each level
    read_timeout_s: float = 300.0  # one silent read before a request counts as "timeout"
    chunks: int = CHUNKS
    chunk_chars: int = CHUNK_CHARS
    warmup: bool = True  # one untimed request first, so level 1 doesn't measure a model load

    def requests_for(self, level: int) -> int:
        return self.requests if self.requests is not None else max(8, 2 * level)

    def problems(self) -> list[str]:
        out = []
        if not self.levels or any(level < 1 for level in self.levels):
            out.append("Concurrency levels must be whole numbers of at least 1.")
        if len(set(self.levels)) != len(self.levels):
            out.append("Each concurrency level may appear only once.")
        if self.requests is not None and self.levels and self.requests < max(self.levels):
            out.append(
                f"Requests per level ({self.requests}) must be at least the highest level "
                f"({max(self.levels)}), or that level never has that many requests in flight."
            )
        if self.max_tokens < 1:
            out.append("Max tokens must be at least 1.")
        if min(self.time_cap_s, self.level_cap_s, self.read_timeout_s) <= 0:
            out.append("Time caps and the read timeout must be positive.")
        if self.chunks < 0 or self.chunk_chars < 1:
            out.append("The prompt needs 0 or more chunks of at least 1 character.")
        return out

    def with_levels(self, levels: Sequence[int]) -> SweepSettings:
        return SweepSettings(**{**asdict(self), "levels": tuple(sorted(levels))})


@dataclass(frozen=True)
class Progress:
    """Reported from the sweep's own thread; `fraction` drives a progress bar."""

    phase: str  # "check", "warmup", "level", "done"
    level: int = 0
    level_index: int = 0
    levels: int = 0
    done: int = 0  # requests finished at this level (ok or not)
    total: int = 0  # requests planned at this level
    errors: int = 0  # at this level
    elapsed_s: float = 0.0

    @property
    def fraction(self) -> float:
        if self.phase == "done":
            return 1.0
        if not self.levels or not self.total:
            return 0.0
        return min(1.0, (self.level_index + self.done / self.total) / self.levels)

    def line(self) -> str:
        if self.phase != "level":
            return f"[{self.elapsed_s:6.1f} s] {self.phase}"
        return (
            f"[{self.elapsed_s:6.1f} s] level {self.level} ({self.level_index + 1}/{self.levels}): "
            f"{self.done}/{self.total} done, {self.errors} error(s)"
        )


def percentile(values: Sequence[float], p: float) -> float | None:
    """Nearest-rank percentile; None for no values."""
    if not values:
        return None
    ordered = sorted(values)
    return ordered[max(1, math.ceil(p / 100 * len(ordered))) - 1]


@dataclass
class LevelResult:
    level: int
    planned: int
    samples: list[Sample] = field(default_factory=list)
    wall_s: float = 0.0  # first request sent to last one finished
    stopped: str = ""  # "" ran to the end; else CANCELLED / TIME_CAP / LEVEL_TIME_CAP

    @property
    def ok(self) -> list[Sample]:
        return [s for s in self.samples if s.ok]

    @property
    def completed(self) -> int:
        return len(self.ok)

    @property
    def errors(self) -> dict[str, int]:
        return dict(Counter(s.error for s in self.samples if s.error and s.error != CUT))

    @property
    def error_count(self) -> int:
        return sum(self.errors.values())

    @property
    def busy(self) -> int:
        return sum(n for e, n in self.errors.items() if e in BUSY)

    @property
    def unfinished(self) -> int:
        """Cut off in flight, or never sent, because of a time cap or a cancel."""
        return self.planned - self.completed - self.error_count

    @property
    def complete(self) -> bool:
        return not self.stopped and self.unfinished == 0

    def _rate(self, amount: float) -> float:
        return amount / self.wall_s if self.wall_s > 0 else 0.0

    @property
    def requests_per_s(self) -> float:
        return self._rate(self.completed)

    @property
    def output_tokens_per_s(self) -> float:
        return self._rate(sum(s.eval_count for s in self.ok))

    @property
    def decode_tokens_per_s(self) -> float | None:
        rates = [s.eval_count / s.eval_s for s in self.ok if s.eval_s > 0]
        return fmean(rates) if rates else None

    def ttft(self, p: float) -> float | None:
        return percentile([s.ttft_s for s in self.ok if s.ttft_s is not None], p)

    def total(self, p: float) -> float | None:
        return percentile([s.total_s for s in self.ok], p)

    def row(self) -> dict[str, Any]:
        """One table row; numbers stay numbers (None when nothing was measured)."""
        prompt = [s.prompt_eval_count for s in self.ok]
        errors = self.errors
        return {
            "level": self.level,
            "requests": self.planned,
            "ok": self.completed,
            "requests_per_s": self.requests_per_s,
            "output_tokens_per_s": self.output_tokens_per_s,
            "decode_tokens_per_s": self.decode_tokens_per_s,
            "ttft_p50_s": self.ttft(50),
            "ttft_p95_s": self.ttft(95),
            "total_p50_s": self.total(50),
            "total_p95_s": self.total(95),
            "errors_429": errors.get("429", 0),
            "errors_503": errors.get("503", 0),
            "errors_other": self.error_count - self.busy,
            "unfinished": self.unfinished,
            "prompt_tokens": round(fmean(prompt)) if prompt else None,
            "wall_s": self.wall_s,
            "stopped": self.stopped,
        }

    def to_dict(self) -> dict[str, Any]:
        return {**self.row(), "errors": self.errors, "samples": [s.to_dict() for s in self.samples]}


@dataclass
class TuneReport:
    url: str
    model: str
    settings: SweepSettings
    levels: list[LevelResult] = field(default_factory=list)
    stop_reason: str = COMPLETED
    elapsed_s: float = 0.0
    api: str = "ollama"  # or "openai": which API the endpoint spoke

    def level(self, level: int) -> LevelResult | None:
        return next((r for r in self.levels if r.level == level), None)

    def rows(self) -> list[dict[str, Any]]:
        return [r.row() for r in self.levels]

    def to_dict(self, samples: bool = False) -> dict[str, Any]:
        return {
            "url": self.url,
            "model": self.model,
            "api": self.api,
            "settings": asdict(self.settings),
            "stop_reason": self.stop_reason,
            "elapsed_s": self.elapsed_s,
            "levels": [r.to_dict() if samples else r.row() for r in self.levels],
        }

    def table(self) -> str:
        return format_table(self.rows())


COLUMNS = (  # header, row key, format
    ("level", "level", "{}"),
    ("ok/req", None, ""),
    ("req/s", "requests_per_s", "{:.2f}"),
    ("out tok/s", "output_tokens_per_s", "{:.1f}"),
    ("tok/s/req", "decode_tokens_per_s", "{:.1f}"),
    ("TTFT p50", "ttft_p50_s", "{:.2f}s"),
    ("TTFT p95", "ttft_p95_s", "{:.2f}s"),
    ("total p50", "total_p50_s", "{:.2f}s"),
    ("total p95", "total_p95_s", "{:.2f}s"),
    ("429", "errors_429", "{}"),
    ("503", "errors_503", "{}"),
    ("other", "errors_other", "{}"),
    ("cut", "unfinished", "{}"),
)


def format_table(rows: list[dict[str, Any]]) -> str:
    """Fixed-width text, for the CLI and the docs."""
    cells = [[h for h, _, _ in COLUMNS]]
    for row in rows:
        cells.append(
            [
                f"{row['ok']}/{row['requests']}"
                if key is None
                else "-"
                if row[key] is None
                else fmt.format(row[key])
                for _, key, fmt in COLUMNS
            ]
        )
    widths = [max(len(line[i]) for line in cells) for i in range(len(COLUMNS))]
    return "\n".join("  ".join(c.rjust(w) for c, w in zip(line, widths, strict=True)) for line in cells)
