"""From a sweep to deploy settings: OLLAMA_NUM_PARALLEL, --concurrency, --max-instances.

The rule (docs/tune.md explains it with an example):
1. A level *qualifies* when all its requests ran, none failed (no 429/503, no
   timeouts) and its p95 total latency meets the target. Only the unbroken run
   of qualifying levels from the lowest counts, so one lucky level above a
   failing one is not trusted.
2. `num_parallel` is the *knee*: the lowest qualifying level whose output
   tokens/s is within `flat_within` of the best. Higher levels add no
   throughput (requests wait for a slot) while every slot costs GPU memory.
3. `concurrency` is the highest qualifying level, capped at 2 x num_parallel
   (Cloud Run's guidance). Above the knee that is queueing inside an instance,
   which the data shows still meets the target; with no knee it equals num_parallel.
4. `max_instances` = ceil(participants x in-flight requests each / concurrency).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Any

from .. import catalog
from .report import LevelResult, TuneReport

IN_FLIGHT_PER_PARTICIPANT = 2  # the chat page asks the RAG chain and the raw model at once
MAX_INSTANCES_LIMIT = 100  # DeployConfig's range


@dataclass(frozen=True)
class Recommendation:
    num_parallel: int
    concurrency: int
    max_instances: int
    latency_target_s: float
    participants: int
    peak_requests: int  # participants x in-flight requests each
    met_target: bool  # False: nothing measured met the target; the numbers are the safest guess
    reasons: list[str] = field(default_factory=list)

    def as_form_values(self) -> dict[str, int]:
        """DeployConfig field names, for the Deploy form's one-click apply."""
        return {
            "concurrency": self.concurrency,
            "num_parallel": self.num_parallel,
            "max_instances": self.max_instances,
        }

    def as_cli_args(self) -> str:
        return (
            f"--concurrency {self.concurrency} --num-parallel {self.num_parallel} "
            f"--max-instances {self.max_instances}"
        )

    def problems(self) -> list[str]:
        """What DeployConfig would object to; empty by construction."""
        out = catalog.concurrency_problems(self.concurrency, self.num_parallel)
        if not 1 <= self.max_instances <= MAX_INSTANCES_LIMIT:
            out.append(f"Max instances must be between 1 and {MAX_INSTANCES_LIMIT}.")
        return out

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def text(self) -> str:
        head = (
            f"OLLAMA_NUM_PARALLEL={self.num_parallel}  --concurrency {self.concurrency}  "
            f"--max-instances {self.max_instances}"
        )
        return "\n".join([head, *(f"- {r}" for r in self.reasons)])


def recommend(
    report: TuneReport,
    latency_target_s: float,
    participants: int,
    *,
    in_flight_per_participant: int = IN_FLIGHT_PER_PARTICIPANT,
    flat_within: float = 0.10,
    served_parallel: int | None = None,
) -> Recommendation:
    """Settings for a p95 total-latency target and a room of `participants` (see module doc).

    `served_parallel`: the OLLAMA_NUM_PARALLEL the measured service ran with, if known;
    it only adds advice when throughput flattened there.
    """
    qualifying = _qualifying(report.levels, latency_target_s)
    if qualifying:
        num_parallel, concurrency, reasons = _choose(
            qualifying, latency_target_s, flat_within, served_parallel
        )
    else:
        num_parallel, concurrency, reasons = _fallback(report, latency_target_s)
    peak = max(participants, 0) * in_flight_per_participant
    max_instances, scale_reasons = _instances(peak, participants, in_flight_per_participant, concurrency)
    reasons += [
        *scale_reasons,
        catalog.concurrency_advice(concurrency, num_parallel),
        "Measured against one endpoint: to size one GPU, tune a service deployed with "
        "--max-instances 1 and OLLAMA_NUM_PARALLEL at least the highest level swept.",
    ]
    return Recommendation(
        num_parallel,
        concurrency,
        max_instances,
        latency_target_s,
        participants,
        peak,
        bool(qualifying),
        reasons,
    )


def throughput(result: LevelResult) -> float:
    """Output tokens/s, or requests/s if the server reported no token counts."""
    return result.output_tokens_per_s or result.requests_per_s


def _qualifies(result: LevelResult, target: float) -> bool:
    p95 = result.total(95)
    return result.complete and result.error_count == 0 and p95 is not None and p95 <= target


def _qualifying(levels: list[LevelResult], target: float) -> list[LevelResult]:
    out = []
    for result in sorted(levels, key=lambda r: r.level):
        if not _qualifies(result, target):
            break
        out.append(result)
    return out


def _choose(
    qualifying: list[LevelResult], target: float, flat_within: float, served_parallel: int | None
) -> tuple[int, int, list[str]]:
    highest = qualifying[-1]
    best = max(throughput(r) for r in qualifying)
    knee = next(r for r in qualifying if throughput(r) >= (1 - flat_within) * best)
    concurrency = min(highest.level, 2 * knee.level)
    reasons = [
        f"Level {highest.level} is the highest with p95 total latency {highest.total(95):.1f} s "
        f"within the {target:g} s target and no errors (every level up to it met the target too)."
    ]
    if knee is highest:
        reasons.append(
            f"Throughput still rose up to level {knee.level} ({throughput(knee):.0f} tokens/s), "
            f"so OLLAMA_NUM_PARALLEL={knee.level} and --concurrency {concurrency}, equal."
        )
        return knee.level, concurrency, reasons
    reasons.append(
        f"Throughput flattened at level {knee.level} ({throughput(knee):.0f} of at most {best:.0f} "
        "tokens/s): "
        f"more slots only make requests wait, so OLLAMA_NUM_PARALLEL={knee.level}. Waiting up to level "
        f"{highest.level} still met the target, so --concurrency {concurrency} "
        f"({'the 2x cap' if concurrency == 2 * knee.level else 'the highest level that met it'}) keeps the "
        "next request queued at the instance, ready when a slot frees."
    )
    if served_parallel is not None and knee.level >= served_parallel:
        reasons.append(
            f"The service ran with OLLAMA_NUM_PARALLEL={served_parallel}, which may be what "
            "capped throughput: redeploy with a higher value and tune again to see if the GPU "
            "does more."
        )
    return knee.level, concurrency, reasons


def _fallback(report: TuneReport, target: float) -> tuple[int, int, list[str]]:
    measured = [r for r in report.levels if r.total(95) is not None]
    if not measured:
        n = catalog.DEFAULT_CONCURRENCY
        return n, n, [f"No level finished ({report.stop_reason}); keeping the notebook's {n}/{n}."]
    first = min(measured, key=lambda r: r.level)
    why = (
        f"level {first.level} had {first.error_count} failed request(s)"
        if first.error_count
        else f"level {first.level} took {first.total(95):.1f} s at p95"
    )
    return (
        1,
        1,
        [
            f"No level met the {target:g} s target without errors ({why}); one request at a time "
            "is the safest setting. Lower the answer length (max tokens), pick a smaller model or "
            "a faster GPU, or relax the target."
        ],
    )


def _instances(peak: int, participants: int, each: int, concurrency: int) -> tuple[int, list[str]]:
    needed = max(1, math.ceil(peak / concurrency))
    instances = min(needed, MAX_INSTANCES_LIMIT)
    reasons = [
        f"{participants} participant(s) x {each} request(s) in flight each (the chat asks the RAG "
        f"chain and the raw model at once) = {peak} at peak; {peak} / {concurrency} per instance "
        f"= {instances} instance(s). Each is a GPU: check the region's GPU quota (preflight does)."
    ]
    if needed > instances:
        reasons.append(f"{needed} instances would be needed; the form allows at most {MAX_INSTANCES_LIMIT}.")
    return instances, reasons
