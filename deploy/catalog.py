"""Facts about Cloud Run GPUs and the models the Deploy page offers, kept as data.

Sources (read when this was written; the region lists change, see docs/deploy.md):
- https://cloud.google.com/run/docs/configuring/services/gpu (types, minimums, regions)
- https://cloud.google.com/run/docs/configuring/services/gpu-zonal-redundancy
- https://cloud.google.com/run/docs/tutorials/gpu-gemma-with-ollama (8 CPU / 32Gi, concurrency)
- google-gemini/gemma-cookbook Demos/Gemma-on-Cloudrun (prebuilt images)
The run.v2 discovery document types the accelerator as a free string (no enum),
so it cannot tell us which GPU types exist; this table does. The models are data
in models.json (sources and dates in docs/deploy.md); the Ollama server version
is the `FROM` line of ollama_container/Dockerfile, its one place.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from functools import cache
from pathlib import Path

DEFAULT_GPU = "nvidia-l4"
DEFAULT_CONCURRENCY = 4  # the notebook's --concurrency 4 / OLLAMA_NUM_PARALLEL=4
DEFAULT_CONTEXT = 8192  # tokens per parallel slot (OLLAMA_CONTEXT_LENGTH)
NOTEBOOK_MODEL = "gemma2:9b"  # the notebook's model, kept selectable
EMBED_MODEL = "embeddinggemma"  # baked next to the chat model (RAG_EMBEDDINGS=ollama)
MODELS_FILE = Path(__file__).with_name("models.json")
OLLAMA_DOCKERFILE = Path(__file__).resolve().parent.parent / "ollama_container" / "Dockerfile"
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
    usable_gib: float = 0.0  # memory the driver reports (nvidia-smi total), for the fit check


GPU_TYPES: dict[str, GpuType] = {
    "nvidia-l4": GpuType(
        name="nvidia-l4",
        label="NVIDIA L4 (24 GB)",
        vram_gib=24,
        min_cpu=4,
        min_memory_gib=16,
        default_cpu=8,
        default_memory_gib=32,
        max_cpu=8,
        max_memory_gib=32,
        regions=("us-central1", "us-east4", "europe-west1", "europe-west4", "asia-southeast1", "asia-south1"),
        quota_words=("l4",),
        usable_gib=22.5,
    ),
    "nvidia-rtx-pro-6000": GpuType(
        name="nvidia-rtx-pro-6000",
        label="NVIDIA RTX PRO 6000 Blackwell (96 GB, Preview)",
        vram_gib=96,
        min_cpu=20,
        min_memory_gib=80,
        default_cpu=20,
        default_memory_gib=80,
        max_cpu=None,
        max_memory_gib=None,
        regions=("us-central1", "asia-southeast1"),
        preview=True,
        quota_words=("rtx", "6000"),
        usable_gib=95.0,
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


@dataclass(frozen=True)
class KvShape:
    """The attention layers that own a KV cache, and how wide a token's K (= V) is."""

    sliding_layers: int
    full_layers: int
    window: int  # tokens a sliding layer keeps per slot
    sliding_width: int  # KV heads x head dim
    full_width: int


@dataclass(frozen=True)
class ModelSpec:
    tag: str
    family: str
    label: str
    kind: str  # chat | embedding
    rank: int  # capability order within the family
    min_ollama: str
    weights_gb: float  # the Ollama download, GB = 1e9 bytes
    context: int  # the longest context the model supports
    licence: str  # gemma | apache-2.0
    kv: KvShape | None
    sources: tuple[str, ...]
    weights_estimated: bool = False
    params_b: float | None = None  # billions of parameters (vLLM's bf16 weights); None = derive

    @property
    def licence_label(self) -> str:
        return LICENCES[self.licence]


LICENCES = {"gemma": "Gemma Terms of Use", "apache-2.0": "Apache 2.0"}


def _spec(row: dict) -> ModelSpec:
    kv = KvShape(**row["kv"]) if row.get("kv") else None
    return ModelSpec(**{**row, "kv": kv, "sources": tuple(row["sources"])})


@cache
def _table() -> dict:
    return json.loads(MODELS_FILE.read_text())


def models() -> dict[str, ModelSpec]:
    """Every catalog model by Ollama tag, in the table's order."""
    return {row["tag"]: _spec(row) for row in _table()["models"]}


def model_sources() -> dict[str, dict]:
    return dict(_table()["sources"])


def chat_models() -> list[str]:
    return [tag for tag, spec in models().items() if spec.kind == "chat"]


def model_spec(tag: str) -> ModelSpec | None:
    """The catalog entry; `gemma3` means `gemma3:latest`, which the catalog does not list."""
    return models().get(tag.strip())


def parse_version(text: str) -> tuple[int, ...]:
    """'0.30.5' -> (0, 30, 5); a leading 'v' and pre-release suffixes are ignored."""
    match = re.match(r"v?(\d+(?:\.\d+)*)", text.strip())
    if not match:
        raise ValueError(f"'{text}' is not a version like 0.30.5")
    return tuple(int(part) for part in match.group(1).split("."))


@cache
def ollama_version() -> str:
    """The pinned server: the tag of ollama/ollama in the image's FROM line."""
    match = re.search(r"^FROM\s+ollama/ollama:(\S+)", OLLAMA_DOCKERFILE.read_text(), re.M)
    if not match:
        raise ValueError(f"{OLLAMA_DOCKERFILE} has no 'FROM ollama/ollama:VERSION' line")
    return match.group(1)


def version_problems(tag: str, server: str | None = None) -> list[str]:
    """A catalog model newer than the pinned server would fail the build's pull (HTTP 412)."""
    spec = model_spec(tag)
    server = server or ollama_version()
    if spec is None or parse_version(spec.min_ollama) <= parse_version(server):
        return []
    return [
        f"{tag} needs Ollama {spec.min_ollama} or later, but the image pins "
        f"ollama/ollama:{server}; the build's pull would fail with HTTP 412."
    ]


def __getattr__(name: str) -> str:
    """DEFAULT_MODEL is computed by the fit check (deploy/fit.py), once, on first use."""
    if name == "DEFAULT_MODEL":
        from .fit import default_model

        return default_model()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


BUILD_APIS = ("artifactregistry.googleapis.com", "cloudbuild.googleapis.com")
RUN_API = "run.googleapis.com"
# testIamPermissions on the project lives here: the preflight needs it, the deploy does not.
RESOURCE_MANAGER_API = "cloudresourcemanager.googleapis.com"
SECRET_MANAGER_API = "secretmanager.googleapis.com"  # the hosted UI's secretKeyRef env vars
# Regions where Cloud Build runs even for projects restricted to a few build regions
# (https://cloud.google.com/build/docs/locations); the first is the job's fallback.
BUILD_REGIONS = (
    "us-central1",
    "us-west2",
    "europe-west1",
    "asia-east1",
    "australia-southeast1",
    "southamerica-east1",
)
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
        out.append(
            f"{gpu} needs at least {spec.min_cpu} CPU and {spec.min_memory_gib}Gi "
            f"memory; got {cpu} CPU and {memory}."
        )
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
        return [
            f"Concurrency {concurrency} is below OLLAMA_NUM_PARALLEL={num_parallel}: "
            "Ollama's extra slots would sit idle while Cloud Run starts new GPUs."
        ]
    if concurrency > 2 * num_parallel:
        return [
            f"Concurrency {concurrency} is more than twice OLLAMA_NUM_PARALLEL="
            f"{num_parallel}: requests would queue inside Ollama, where Cloud Run "
            "cannot see them to scale out."
        ]
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
