"""What to deploy (DeployConfig), where Google's APIs live (Endpoints), and deploy's settings.

Endpoints is the one place base URLs are defined, so tests (and emulators)
can point every request at a local server. The settings (DEPLOY_STATE_DIR,
DEPLOY_POLL_SECONDS, DEPLOY_API_BASE) are rows of the app's one table,
rag/settings.py (docs/settings.md); the page and the CLI read them here.
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass, field, fields, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rag.errors import InputError
from rag.settings import Settings, env_value

from . import catalog, fit
from .errors import ConfigError
from .fit import FitEstimate

if TYPE_CHECKING:
    from .vllm import VllmOptions

ENGINES = ("ollama", "vllm")

REPO_ROOT = Path(__file__).resolve().parent.parent
CONTAINER_DIR = REPO_ROOT / "ollama_container"
DEFAULT_STATE_DIR = REPO_ROOT / ".cache" / "deploy"  # when DEPLOY_STATE_DIR is empty
# On everything this app creates; clean-up trusts it (a labelled repository is the app's).
MANAGED_LABELS = {"managed-by": "workshop-deploy"}


def labels_flag(**more: str) -> str:
    """The same labels as a gcloud flag: `--labels=managed-by=workshop-deploy,k=v`."""
    return "--labels=" + ",".join(f"{k}={v}" for k, v in {**MANAGED_LABELS, **more}.items())


def setting(name: str, settings: Settings | None = None) -> Any:
    """A deploy setting: from `settings` (the app's session), else the environment alone.

    A bad value is a ConfigError: `python -m deploy` and the page show its sentence and fix.
    """
    if settings is not None:
        return getattr(settings, name)
    try:
        return env_value(name)
    except InputError as err:
        raise ConfigError(err.message, err.fix) from None


def state_dir(settings: Settings | None = None) -> Path:
    """Where deploy jobs keep their state: DEPLOY_STATE_DIR, else the repository's .cache/deploy."""
    folder = setting("deploy_state_dir", settings)
    return Path(folder).expanduser() if folder else DEFAULT_STATE_DIR


def poll_seconds(settings: Settings | None = None) -> float:
    """Seconds between polls of a running operation (DEPLOY_POLL_SECONDS; tests set 0)."""
    return max(0.0, setting("deploy_poll_seconds", settings))


# Discovery name -> base URL (the discovery doc's rootUrl + servicePath).
GOOGLE_BASE_URLS = {
    "run": "https://run.googleapis.com/",
    "cloudbuild": "https://cloudbuild.googleapis.com/",
    "artifactregistry": "https://artifactregistry.googleapis.com/",
    "serviceusage": "https://serviceusage.googleapis.com/",
    "iam": "https://iam.googleapis.com/",
    "cloudresourcemanager": "https://cloudresourcemanager.googleapis.com/",
    "secretmanager": "https://secretmanager.googleapis.com/",
    "storage": "https://storage.googleapis.com/storage/v1/",
}
TOKENINFO_URL = "https://oauth2.googleapis.com/tokeninfo"


@dataclass(frozen=True)
class Endpoints:
    """Base URL of every Google API the deployer calls."""

    bases: dict[str, str] = field(default_factory=lambda: dict(GOOGLE_BASE_URLS))
    tokeninfo: str = TOKENINFO_URL

    @classmethod
    def single_host(cls, base_url: str) -> Endpoints:
        """Every API under one host at `{base_url}/{api}/` (fake servers, emulators)."""
        base = base_url.rstrip("/")
        return cls({api: f"{base}/{api}/" for api in GOOGLE_BASE_URLS}, f"{base}/tokeninfo")

    def base(self, api: str) -> str:
        return self.bases[api]

    @classmethod
    def from_env(cls, settings: Settings | None = None) -> Endpoints:
        """Google's APIs, or every API under DEPLOY_API_BASE (an emulator or a test server)."""
        base = setting("deploy_api_base", settings).strip()
        return cls.single_host(base) if base else cls()


_MODEL_RE = re.compile(r"^[a-z0-9][a-z0-9._-]*(/[a-z0-9][a-z0-9._-]*){0,2}(:[A-Za-z0-9._-]+)?$")
_SERVICE_RE = re.compile(r"^[a-z]([a-z0-9-]{0,47}[a-z0-9])?$")
_REPO_RE = re.compile(r"^[a-z]([a-z0-9-]{0,61}[a-z0-9])?$")
_PROJECT_RE = re.compile(r"^[a-z][a-z0-9-]{4,28}[a-z0-9]$|^[a-z][a-z0-9.:-]{4,60}[a-z0-9]$")
_MEMBER_RE = re.compile(r"^(user|serviceAccount|group|domain):\S+$")
_LOCATION_RE = re.compile(r"^[a-z]+-[a-z]+\d+$")


def model_slug(model: str) -> str:
    """`gemma2:9b` -> `gemma2-9b`: usable in image, service and label names."""
    slug = re.sub(r"[^a-z0-9]+", "-", model.lower()).strip("-")
    return slug[:40].rstrip("-") or "model"


@dataclass(frozen=True)
class DeployConfig:
    """Everything the deploy needs; defaults follow the workshop notebook."""

    project: str
    region: str
    model: str = catalog.DEFAULT_MODEL
    gpu_type: str = catalog.DEFAULT_GPU
    concurrency: int = catalog.DEFAULT_CONCURRENCY
    num_parallel: int | None = None  # OLLAMA_NUM_PARALLEL; None -> same as concurrency
    context_length: int = catalog.DEFAULT_CONTEXT  # OLLAMA_CONTEXT_LENGTH, tokens per slot
    embed_model: str = catalog.EMBED_MODEL  # baked next to the chat model; "" = none
    max_instances: int = 1
    min_instances: int = 0
    cpu: str | None = None  # None -> the GPU type's recommended value
    memory: str | None = None
    timeout_s: int = 600
    service: str | None = None  # None -> ollama-<model>
    repository: str = "ollama-workshop"
    gpu_zonal_redundancy: bool = False  # off: cheaper, best-effort failover
    use_prebuilt: bool = False  # Google's prebuilt Gemma image: no build
    invoker_members: tuple[str, ...] = ()  # () -> the caller
    service_account: str | None = None  # runtime identity of the Ollama service
    image_tag: str = "latest"
    build_location: str | None = None  # None -> region
    build_machine: str = catalog.BUILD_MACHINE
    build_timeout_s: int = catalog.BUILD_TIMEOUT_S
    # The engine, and what only vLLM reads (deploy/vllm.py; --num-parallel is its
    # --max-num-seqs, --context-length its --max-model-len).
    engine: str = "ollama"
    weights_bucket: str = ""  # Cloud Storage bucket with the weights; "" = from Hugging Face
    weights_dir: str = ""  # folder in the bucket; "" = the repository's name
    hf_model: str = ""  # Hugging Face repository; "" = the catalog's
    hf_token_secret: str = ""  # Secret Manager secret with a Hugging Face token (no bucket only)
    gpu_memory_utilization: float = fit.VLLM_MEMORY_FRACTION
    vllm_image: str = ""  # "" = Google's Gemma 4 vLLM image, or the upstream release
    vllm_args: tuple[str, ...] = ()  # extra `vllm serve` flags

    def __post_init__(self) -> None:
        if self.engine == "vllm":  # the vLLM service serves the chat model only
            object.__setattr__(self, "embed_model", "")
            object.__setattr__(
                self, "weights_bucket", self.weights_bucket.strip().removeprefix("gs://").strip("/")
            )

    # Derived values ---------------------------------------------------------
    @property
    def gpu(self) -> catalog.GpuType:
        return catalog.gpu_type(self.gpu_type)

    @property
    def service_name(self) -> str:
        prefix = "vllm" if self.engine == "vllm" else "ollama"
        return self.service or f"{prefix}-{model_slug(self.model)}"[:49].rstrip("-")

    @property
    def ollama_num_parallel(self) -> int:
        return self.num_parallel if self.num_parallel is not None else self.concurrency

    @property
    def cpu_limit(self) -> str:
        return self.cpu or str(self.gpu.default_cpu)

    @property
    def memory_limit(self) -> str:
        return self.memory or f"{self.gpu.default_memory_gib}Gi"

    @property
    def build_region(self) -> str:
        return self.build_location or self.region

    @property
    def image_name(self) -> str:
        return f"ollama-{model_slug(self.model)}"

    @property
    def image(self) -> str:
        """The image the service runs: vLLM's, prebuilt, or the one the build pushes."""
        if self.engine == "vllm":
            return self.vllm_options().image_for(self)
        if self.use_prebuilt:
            return catalog.prebuilt_image(self.model)
        host = f"{self.region}-docker.pkg.dev"
        return f"{host}/{self.project}/{self.repository}/{self.image_name}:{self.image_tag}"

    @property
    def builds_image(self) -> bool:
        return self.engine == "ollama" and not self.use_prebuilt

    def vllm_options(self) -> VllmOptions:
        from .vllm import VllmOptions

        return VllmOptions(
            bucket=self.weights_bucket,
            weights_dir=self.weights_dir,
            hf_model=self.hf_model,
            hf_token_secret=self.hf_token_secret,
            max_model_len=self.context_length,
            gpu_memory_utilization=self.gpu_memory_utilization,
            image=self.vllm_image,
            extra_args=tuple(self.vllm_args),
        )

    def fit_estimate(self) -> FitEstimate:
        """GPU memory of this deploy: the model, its parallel slots, the embedder."""
        embed = "" if self.use_prebuilt else self.embed_model
        return fit.estimate(
            self.model,
            self.gpu_type,
            self.ollama_num_parallel,
            self.context_length,
            embed,
            engine=self.engine,
            gpu_memory_utilization=self.gpu_memory_utilization,
        )

    def warnings(self) -> list[str]:
        """What is allowed but unchecked (a model outside the catalog)."""
        return fit.warnings(self.model, self.engine) if _MODEL_RE.match(self.model or "") else []

    def model_problems(self) -> list[str]:
        """Before any request: the server version, the context, the GPU memory."""
        out = [] if not self.builds_image else catalog.version_problems(self.model)
        if self.embed_model and not self.use_prebuilt:
            out += catalog.version_problems(self.embed_model)
        if not 1024 <= self.context_length <= 1_048_576:
            return [*out, "The context length must be between 1,024 and 1,048,576 tokens."]
        return out + fit.problems(self.fit_estimate())

    # Validation -------------------------------------------------------------
    def problems(self) -> list[str]:
        """Every reason Google would reject this (or the deploy would misbehave)."""
        out = []
        if not _PROJECT_RE.match(self.project or ""):
            out.append(f"'{self.project}' is not a valid project ID.")
        if not _MODEL_RE.match(self.model or ""):
            out.append(f"'{self.model}' is not an Ollama model name like gemma2:9b.")
        if not _SERVICE_RE.match(self.service_name):
            out.append(f"'{self.service_name}' is not a valid Cloud Run service name.")
        if not _REPO_RE.match(self.repository):
            out.append(f"'{self.repository}' is not a valid Artifact Registry repository ID.")
        if self.gpu_type not in catalog.GPU_TYPES:
            out.append(f"Unknown GPU type '{self.gpu_type}'; choose {catalog.gpu_choices()}.")
            return out
        out += catalog.region_problems(self.gpu_type, self.region)
        out += catalog.resource_problems(self.gpu_type, self.cpu_limit, self.memory_limit)
        out += _engine_problems(self)
        out += _scaling_problems(self)
        if _MODEL_RE.match(self.model or ""):
            out += self.model_problems()
        if self.build_location and not _LOCATION_RE.match(self.build_location):
            out.append(f"'{self.build_location}' is not a region like us-central1 (Cloud Build region).")
        if self.use_prebuilt and self.model not in catalog.PREBUILT_IMAGES:
            out.append(
                f"No prebuilt image for '{self.model}'; prebuilt models: "
                f"{', '.join(catalog.PREBUILT_IMAGES)}."
            )
        out += [
            f"'{m}' is not an IAM member like user:you@example.com."
            for m in self.invoker_members
            if not _MEMBER_RE.match(m)
        ]
        return out

    def validate(self) -> DeployConfig:
        problems = self.problems()
        if problems:
            unfit = any(p.startswith("Will not fit") for p in problems)
            found = fit.fixes(self.fit_estimate()) if unfit else []
            fix = (
                ("Nearest fixes: " + "; ".join(found) + ".")
                if found
                else "Change the highlighted settings and retry."
            )
            raise ConfigError(" ".join(problems), fix)
        return self

    # Persistence --------------------------------------------------------------
    def to_dict(self) -> dict:
        data = asdict(self)
        data["invoker_members"] = list(self.invoker_members)
        return data

    @classmethod
    def from_dict(cls, data: dict) -> DeployConfig:
        known = {f.name for f in fields(cls)}
        kwargs = {k: v for k, v in data.items() if k in known}
        kwargs["invoker_members"] = tuple(kwargs.get("invoker_members") or ())
        kwargs["vllm_args"] = tuple(kwargs.get("vllm_args") or ())  # a job saved before vLLM: ollama
        kwargs.setdefault("embed_model", "")  # a job saved before images carried an embedder
        return cls(**kwargs)

    def with_changes(self, **changes) -> DeployConfig:
        return replace(self, **changes)


def _engine_problems(cfg: DeployConfig) -> list[str]:
    """The slots and Cloud Run's concurrency; for vLLM also its weights, image and limits."""
    if cfg.engine not in ENGINES:
        return [f"Unknown engine '{cfg.engine}'; choose {' or '.join(ENGINES)}."]
    out = catalog.concurrency_problems(cfg.concurrency, cfg.ollama_num_parallel)
    if cfg.engine != "vllm":
        return out
    if cfg.use_prebuilt:
        out.append("The prebuilt images run Ollama: drop --prebuilt for vLLM.")
    # told once: catalog says concurrency is below the slots, model_problems the context range
    told = ("--max-model-len", "--max-num-seqs") if out else ("--max-model-len",)
    return out + [p for p in cfg.vllm_options().problems(cfg) if not any(k in p for k in told)]


def _scaling_problems(cfg: DeployConfig) -> list[str]:
    out = []
    if not 1 <= cfg.max_instances <= 100:
        out.append("Max instances must be between 1 and 100.")
    if not 0 <= cfg.min_instances <= cfg.max_instances:
        out.append("Min instances must be between 0 and max instances.")
    if not 1 <= cfg.timeout_s <= 3600:
        out.append("The request timeout must be between 1 and 3600 seconds.")
    return out
