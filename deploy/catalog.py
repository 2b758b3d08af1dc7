"""Facts about Cloud Run GPUs, kept as data in one place.

Sources (read when this was written; the region lists change, see docs/deploy.md):
- https://cloud.google.com/run/docs/configuring/services/gpu (types, minimums, regions)
- https://cloud.google.com/run/docs/configuring/services/gpu-zonal-redundancy
- https://cloud.google.com/run/docs/tutorials/gpu-gemma-with-ollama (8 CPU / 32Gi, concurrency)
- google-gemini/gemma-cookbook Demos/Gemma-on-Cloudrun (prebuilt images)
The run.v2 discovery document types the accelerator as a free string (no enum),
so it cannot tell us which GPU types exist; this table does.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

DEFAULT_MODEL = "gemma2:9b"  # the notebook's model
DEFAULT_GPU = "nvidia-l4"
DEFAULT_CONCURRENCY = 4  # the notebook's --concurrency 4 / OLLAMA_NUM_PARALLEL=4
BUILD_MACHINE = "E2_HIGHCPU_32"  # the notebook's Cloud Build machine: pulls fast
BUILD_TIMEOUT_S = 3600
GPU_DOCS = "https://cloud.google.com/run/docs/configuring/services/gpu"
QUOTA_DOCS = "https://cloud.google.com/run/quotas#gpu"
PRICING_DOCS = "https://cloud.google.com/run/pricing"

REGION_LABELS = {
    "us-central1": "Iowa",
    "us-east4": "Northern Virginia",
    "europe-west1": "Belgium",
    "europe-west4": "Netherlands",
    "asia-southeast1": "Singapore",
    "asia-south1": "Mumbai (invitation only)",
}


@dataclass(frozen=True)
class GpuType:
    name: str  # the value of nodeSelector.accelerator / --gpu-type
    label: str
    vram_gib: int
    min_cpu: int
    min_memory_gib: int
    default_cpu: int
    default_memory_gib: int
    max_cpu: int | None
    max_memory_gib: int | None
    regions: tuple[str, ...]
    preview: bool = False  # Preview features need launchStage BETA on the service
    quota_words: tuple[str, ...] = ()  # how its quota metric is spelled


GPU_TYPES: dict[str, GpuType] = {
    "nvidia-l4": GpuType(
        name="nvidia-l4", label="NVIDIA L4 (24 GB)", vram_gib=24,
        min_cpu=4, min_memory_gib=16, default_cpu=8, default_memory_gib=32,
        max_cpu=8, max_memory_gib=32,
        regions=("us-central1", "us-east4", "europe-west1", "europe-west4",
                 "asia-southeast1", "asia-south1"),
        quota_words=("l4",),
    ),
    "nvidia-rtx-pro-6000": GpuType(
        name="nvidia-rtx-pro-6000", label="NVIDIA RTX PRO 6000 Blackwell (96 GB, Preview)",
        vram_gib=96, min_cpu=20, min_memory_gib=80, default_cpu=20, default_memory_gib=80,
        max_cpu=None, max_memory_gib=None,
        regions=("us-central1", "asia-southeast1"),
        preview=True, quota_words=("rtx", "6000"),
    ),
}

# Google's prebuilt Ollama+Gemma images (gemma-cookbook Demos/Gemma-on-Cloudrun).
# They listen on $PORT (8080) through a small proxy in front of Ollama.
PREBUILT_IMAGES = {
    "gemma3:1b": "us-docker.pkg.dev/cloudrun/container/gemma/gemma3-1b",
    "gemma3:4b": "us-docker.pkg.dev/cloudrun/container/gemma/gemma3-4b",
    "gemma3:12b": "us-docker.pkg.dev/cloudrun/container/gemma/gemma3-12b",
    "gemma3:27b": "us-docker.pkg.dev/cloudrun/container/gemma/gemma3-27b",
}

BUILD_APIS = ("artifactregistry.googleapis.com", "cloudbuild.googleapis.com")
RUN_API = "run.googleapis.com"
# testIamPermissions on the project lives here: the preflight needs it, the deploy does not.
RESOURCE_MANAGER_API = "cloudresourcemanager.googleapis.com"
SECRET_MANAGER_API = "secretmanager.googleapis.com"  # the hosted UI's secretKeyRef env vars
# Regions where Cloud Build runs even for projects restricted to a few build regions
# (https://cloud.google.com/build/docs/locations); the first is the job's fallback.
BUILD_REGIONS = ("us-central1", "us-west2", "europe-west1", "asia-east1", "australia-southeast1",
                 "southamerica-east1")
FALLBACK_BUILD_REGION = BUILD_REGIONS[0]


@dataclass(frozen=True)
class Region:
    name: str
    label: str


def gpu_type(name: str) -> GpuType:
    return GPU_TYPES[name]


def gpu_choices() -> str:
    return ", ".join(GPU_TYPES)


def regions_for(gpu: str) -> list[Region]:
    """Regions offering this GPU type, for the form's region picker."""
    return [Region(r, REGION_LABELS.get(r, r)) for r in GPU_TYPES[gpu].regions]


def gpus_for(region: str) -> list[GpuType]:
    return [g for g in GPU_TYPES.values() if region in g.regions]


def required_apis(use_prebuilt: bool) -> tuple[str, ...]:
    return (RUN_API,) if use_prebuilt else (RUN_API, *BUILD_APIS)


def preflight_apis(use_prebuilt: bool) -> tuple[str, ...]:
    """The deploy's APIs plus Resource Manager, which answers the preflight's role check."""
    return (*required_apis(use_prebuilt), RESOURCE_MANAGER_API)


def prebuilt_image(model: str) -> str:
    return PREBUILT_IMAGES[model]


def region_problems(gpu: str, region: str) -> list[str]:
    if region in GPU_TYPES[gpu].regions:
        return []
    offered = ", ".join(GPU_TYPES[gpu].regions)
    return [f"Cloud Run does not offer {gpu} in '{region}'; choose one of: {offered}."]


def parse_cpu(cpu: str) -> float:
    text = str(cpu).strip()
    if text.endswith("m"):
        return float(text[:-1]) / 1000
    return float(text)


_MEM_UNITS = {"Gi": 1.0, "Mi": 1 / 1024, "G": 1e9 / 2**30, "M": 1e6 / 2**30}


def parse_memory_gib(memory: str) -> float:
    """'32Gi' -> 32.0; the Kubernetes quantity units Cloud Run accepts."""
    match = re.fullmatch(r"(\d+(?:\.\d+)?)(Gi|Mi|G|M)", str(memory).strip())
    if not match:
        raise ValueError(f"'{memory}' is not a memory size like 32Gi")
    return float(match.group(1)) * _MEM_UNITS[match.group(2)]


def resource_problems(gpu: str, cpu: str, memory: str) -> list[str]:
    """GPU minimums (and L4 maximums), checked before anything is sent."""
    spec = GPU_TYPES[gpu]
    try:
        cpus, gib = parse_cpu(cpu), parse_memory_gib(memory)
    except ValueError as err:
        return [f"CPU '{cpu}' / memory '{memory}': {err}."]
    out = []
    if cpus < spec.min_cpu or gib < spec.min_memory_gib:
        out.append(f"{gpu} needs at least {spec.min_cpu} CPU and {spec.min_memory_gib}Gi "
                   f"memory; got {cpu} CPU and {memory}.")
    if spec.max_cpu and cpus > spec.max_cpu:
        out.append(f"{gpu} allows at most {spec.max_cpu} CPU; got {cpu}.")
    if spec.max_memory_gib and gib > spec.max_memory_gib:
        out.append(f"{gpu} allows at most {spec.max_memory_gib}Gi memory; got {memory}.")
    if cpus != int(cpus):
        out.append("GPU services need a whole number of CPUs.")
    return out


def concurrency_problems(concurrency: int, num_parallel: int) -> list[str]:
    """Cloud Run's guidance: concurrency = OLLAMA_NUM_PARALLEL, at most 2x."""
    if concurrency < 1 or num_parallel < 1:
        return ["Concurrency and OLLAMA_NUM_PARALLEL must both be at least 1."]
    if concurrency < num_parallel:
        return [f"Concurrency {concurrency} is below OLLAMA_NUM_PARALLEL={num_parallel}: "
                "Ollama's extra slots would sit idle while Cloud Run starts new GPUs."]
    if concurrency > 2 * num_parallel:
        return [f"Concurrency {concurrency} is more than twice OLLAMA_NUM_PARALLEL="
                f"{num_parallel}: requests would queue inside Ollama, where Cloud Run "
                "cannot see them to scale out."]
    return []


def concurrency_advice(concurrency: int, num_parallel: int) -> str:
    return (
        f"Cloud Run sends each instance at most {concurrency} requests at once and Ollama "
        f"serves {num_parallel} in parallel (OLLAMA_NUM_PARALLEL). Keeping them equal (or "
        "concurrency up to 2x, so the next request is already waiting when a slot frees) "
        "makes Cloud Run start another GPU instance instead of queueing inside Ollama. "
        "Each parallel slot reserves context memory on the GPU, so raise both together."
    )


def cost_note(gpu: str, cpu: str, memory: str, min_instances: int, max_instances: int) -> str:
    """The sentence the Deploy page shows next to the button."""
    idle = (
        f"{min_instances} instance(s) stay up, and bill, around the clock even with no traffic."
        if min_instances
        else "With min instances 0 it scales to zero when idle; the next request waits "
        "for a cold start (instance start plus model load)."
    )
    return (
        f"A GPU instance ({gpu}, {cpu} CPU, {memory}) is billed for its whole lifetime, "
        "from start until it shuts down after idling, not per request. "
        f"{idle} At most {max_instances} GPU instance(s) can run at once. "
        f"Press Clean-up when the workshop ends. Prices: {PRICING_DOCS}"
    )
