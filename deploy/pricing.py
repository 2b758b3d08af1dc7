"""A cost ceiling for the Deploy page: what a GPU service can cost at most.

Prices are a dated table with sources (docs/deploy.md, Cost ceiling): Cloud Run's
instance-based billing in Tier 1 regions, in USD. They change; the page shows the
date and the pricing link next to every number.
"""

from __future__ import annotations

from dataclasses import dataclass

from . import catalog

PRICES_READ = "2026-12-02"
PRICES_SOURCES = (
    "https://cloud.google.com/run/pricing",
    "https://brandonseppa.com/2026/04/gpu-inference-without-the-cluster-cloud-run-finally-makes-that-real",
    "https://braindrip.blog/blueprints/deploy-gemma-to-cloud-run/01-deploy-gemma-to-cloud-run/06-costs-safety-and-teardown",
)
# USD per hour, Tier 1, instance-based billing. None: no published price was found.
GPU_HOURLY = {
    ("nvidia-l4", False): 0.672,  # no zonal redundancy: $0.0001867 per GPU-second
    ("nvidia-l4", True): 1.047,  # zonal redundancy: $0.0002909 per GPU-second
    ("nvidia-rtx-pro-6000", False): None,
    ("nvidia-rtx-pro-6000", True): None,
}
VCPU_HOURLY = 0.0648  # $0.000018 per vCPU-second
GIB_HOURLY = 0.0072  # $0.000002 per GiB-second


@dataclass(frozen=True)
class CostCeiling:
    gpu: str
    instances: int
    hours: float
    gpu_hourly: float | None
    cpu_memory_hourly: float

    @property
    def instance_hourly(self) -> float | None:
        return None if self.gpu_hourly is None else self.gpu_hourly + self.cpu_memory_hourly

    @property
    def total(self) -> float | None:
        hourly = self.instance_hourly
        return None if hourly is None else self.instances * self.hours * hourly

    def text(self) -> str:
        if self.total is None:
            return (
                f"No published {self.gpu} price was found (prices read {PRICES_READ}); CPU "
                f"and memory alone are ${self.cpu_memory_hourly:.2f} per instance-hour, "
                f"x {self.instances} instance(s) x {self.hours:g} h = "
                f"${self.instances * self.hours * self.cpu_memory_hourly:,.2f} plus the GPU."
            )
        return (
            f"At most ${self.total:,.2f}: {self.instances} instance(s) x {self.hours:g} h x "
            f"${self.instance_hourly:.2f} per instance-hour (GPU ${self.gpu_hourly:.2f} + "
            f"CPU and memory ${self.cpu_memory_hourly:.2f}; Tier 1 prices read {PRICES_READ})."
        )


def ceiling(
    gpu: str, cpu: str, memory: str, instances: int, hours: float, zonal_redundancy: bool = False
) -> CostCeiling:
    """max instances x hours x the instance's hourly price: the bill if every instance ran."""
    cpu_memory = catalog.parse_cpu(cpu) * VCPU_HOURLY + catalog.parse_memory_gib(memory) * GIB_HOURLY
    return CostCeiling(gpu, instances, hours, GPU_HOURLY.get((gpu, zonal_redundancy)), cpu_memory)


def min_instances_note(min_instances: int, hours: float, hourly: float | None) -> str:
    """What min instances 0 or 1+ means for the bill."""
    if not min_instances:
        return (
            "Min instances 0: the ceiling is reached only if every instance runs the whole "
            "time; with no traffic the service scales to zero (after about 15 idle minutes) "
            "and costs nothing, and the next request waits for a cold start."
        )
    day = "" if hourly is None else f" (${min_instances * 24 * hourly:,.2f} a day)"
    return (
        f"Min instances {min_instances}: that many instances run and bill around the clock, "
        f"traffic or not{day}, until you clean up; the ceiling above is then also the floor "
        f"for {min_instances} instance(s) over {hours:g} h."
    )
