"""The vLLM engine: the model behind an OpenAI-compatible server on the Cloud Run GPU.

What differs from the Ollama engine (deploy/cloudrun.py), each a Cloud Run v2 field:
- the image: Google's prebuilt Gemma 4 vLLM image for Gemma 4, the upstream
  `vllm/vllm-openai` release otherwise (sources and dates in docs/deploy.md); nothing is built.
- the weights: a Cloud Storage bucket mounted read-only (a `gcs` volume, Cloud Storage
  FUSE); with no bucket, vLLM downloads them from Hugging Face at start, with `HF_TOKEN`
  from Secret Manager (Gemma repositories are gated). The token is asked for only then.
- the startup probe: `GET /health`, allowed the GPU maximum (1800 s), because loading
  weights takes minutes where Ollama's baked image listens in seconds.
- `--max-num-seqs` is the service's parallel slots (`--num-parallel`, default the
  concurrency); Cloud Run's concurrency must be at least that, or the batch never fills.
- `--served-model-name` is the catalog tag (`gemma4:e4b`), so the app asks the same
  model name of either engine.
"""

from __future__ import annotations

import copy
import json
import re
import shlex
from dataclasses import dataclass, field

from . import catalog, cloudrun, operations, roles, secretmanager, serviceusage
from .api import ApiRequest
from .config import ENGINES, DeployConfig, Endpoints, labels_flag, model_slug
from .errors import ConfigError

__all__ = ["ENGINES", "VllmOptions"]
# Google's prebuilt vLLM image for Gemma 4 on Cloud Run (Model Garden's serving container).
GOOGLE_GEMMA4_IMAGE = (
    "us-docker.pkg.dev/vertex-ai/vertex-vision-model-garden-dockers/pytorch-vllm-serve:gemma4"
)
UPSTREAM_IMAGE = "vllm/vllm-openai:v0.33.0"  # the newest vLLM release on PyPI, 2026-12-02
PORT = cloudrun.PORT
WEIGHTS_VOLUME = "weights"
WEIGHTS_MOUNT = "/mnt/weights"
HF_TOKEN_ENV = "HF_TOKEN"
GPU_STARTUP_LIMIT_S = 1800  # Cloud Run: failureThreshold x periodSeconds, at most 1800 s with a GPU
STARTUP_PROBE = {
    "httpGet": {"path": "/health", "port": PORT},
    "initialDelaySeconds": 0,
    "periodSeconds": 10,
    "timeoutSeconds": 5,
    "failureThreshold": 180,
}
# Catalog tag -> the Hugging Face repository with the same model's instruction-tuned weights.
HF_MODELS = {
    "gemma4:e2b": "google/gemma-4-E2B-it",
    "gemma4:e4b": "google/gemma-4-E4B-it",
    "gemma4:26b": "google/gemma-4-26B-A4B-it",
    "gemma4:31b": "google/gemma-4-31B-it",
    "gemma3:1b": "google/gemma-3-1b-it",
    "gemma3:4b": "google/gemma-3-4b-it",
    "gemma3:12b": "google/gemma-3-12b-it",
    "gemma3:27b": "google/gemma-3-27b-it",
    "gemma2:9b": "google/gemma-2-9b-it",
}
_BUCKET_RE = re.compile(r"^[a-z0-9][a-z0-9._-]{1,220}[a-z0-9]$")
_SECRET_RE = re.compile(r"^[A-Za-z0-9_-]{1,255}$")
_HF_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*/[A-Za-z0-9][A-Za-z0-9._-]*$")


@dataclass(frozen=True)
class VllmOptions:
    """What the vLLM engine needs beyond DeployConfig."""

    bucket: str = ""  # Cloud Storage bucket holding the weights ("" = from Hugging Face)
    weights_dir: str = ""  # folder in the bucket; "" = the repository's name (gemma-4-E4B-it)
    hf_model: str = ""  # "" = HF_MODELS[model]
    hf_token_secret: str = ""  # Secret Manager secret with a Hugging Face token (no bucket only)
    max_model_len: int = catalog.DEFAULT_CONTEXT
    gpu_memory_utilization: float = 0.90
    image: str = ""  # "" = Google's Gemma 4 image for Gemma 4, the upstream release otherwise
    extra_args: tuple[str, ...] = field(default_factory=tuple)

    def repository(self, cfg: DeployConfig) -> str:
        return self.hf_model or HF_MODELS.get(cfg.model, "")

    def image_for(self, cfg: DeployConfig) -> str:
        return self.image or (GOOGLE_GEMMA4_IMAGE if cfg.model.startswith("gemma4:") else UPSTREAM_IMAGE)

    def weights_path(self, cfg: DeployConfig) -> str:
        """Where vLLM loads from: the mounted folder, or the Hugging Face repository id."""
        if not self.bucket:
            return self.repository(cfg)
        folder = self.weights_dir.strip("/") or self.repository(cfg).rpartition("/")[2]
        return f"{WEIGHTS_MOUNT}/{folder}"

    def problems(self, cfg: DeployConfig) -> list[str]:
        out = []
        if not self.repository(cfg) and not (self.bucket and self.weights_dir):
            out.append(
                f"No Hugging Face repository is known for {cfg.model}: give --hf-model "
                "(e.g. google/gemma-4-E4B-it), or --weights-bucket with --weights-dir."
            )
        elif self.hf_model and not _HF_RE.match(self.hf_model):
            out.append(f"'{self.hf_model}' is not a Hugging Face repository id like google/gemma-4-E4B-it.")
        if self.bucket and not _BUCKET_RE.match(self.bucket):
            out.append(f"'{self.bucket}' is not a Cloud Storage bucket name.")
        if ".." in self.weights_dir.split("/"):
            out.append("The weights folder must stay inside the bucket (no '..').")
        if self.bucket and self.hf_token_secret:
            out.append("A Hugging Face token is only used without a bucket: drop --hf-token-secret.")
        if not self.bucket and not self.hf_token_secret:
            out.append(
                "Without --weights-bucket, vLLM downloads the weights from Hugging Face, where "
                "Gemma is gated: give --hf-token-secret (a Secret Manager secret)."
            )
        if self.hf_token_secret and not _SECRET_RE.match(self.hf_token_secret):
            out.append(f"'{self.hf_token_secret}' is not a Secret Manager secret name.")
        if cfg.concurrency < cfg.ollama_num_parallel:
            out.append(
                f"Concurrency {cfg.concurrency} is below --max-num-seqs "
                f"{cfg.ollama_num_parallel}: vLLM's batch would never fill."
            )
        if not 1024 <= self.max_model_len <= 1_048_576:
            out.append("The context length (--max-model-len) must be between 1,024 and 1,048,576.")
        if not 0.5 <= self.gpu_memory_utilization <= 0.98:
            out.append("--gpu-memory-utilization must be between 0.5 and 0.98.")
        return out

    def validate(self, cfg: DeployConfig) -> VllmOptions:
        if problems := self.problems(cfg):
            raise ConfigError(" ".join(problems), "Change the vLLM settings and retry.")
        return self


def service_name(model: str) -> str:
    """The default service name for the vLLM engine (the Ollama one is ollama-<model>)."""
    return f"vllm-{model_slug(model)}"[:49].rstrip("-")


def server_args(cfg: DeployConfig, opts: VllmOptions) -> list[str]:
    """`vllm serve` and its flags: the OpenAI-compatible server on the Cloud Run port."""
    return [
        "serve",
        opts.weights_path(cfg),
        f"--served-model-name={cfg.model}",
        "--host=0.0.0.0",
        f"--port={PORT}",
        f"--max-num-seqs={cfg.ollama_num_parallel}",
        f"--max-model-len={opts.max_model_len}",
        f"--gpu-memory-utilization={opts.gpu_memory_utilization:g}",
        *opts.extra_args,
    ]


def container(cfg: DeployConfig, opts: VllmOptions) -> dict:
    limits = {"cpu": cfg.cpu_limit, "memory": cfg.memory_limit, "nvidia.com/gpu": "1"}
    out: dict = {
        "name": "vllm",
        "image": opts.image_for(cfg),
        "command": ["vllm"],
        "args": server_args(cfg, opts),
        "ports": [{"name": "http1", "containerPort": PORT}],
        "resources": {"limits": limits, "cpuIdle": False, "startupCpuBoost": True},
        "startupProbe": copy.deepcopy(STARTUP_PROBE),
    }
    if opts.bucket:
        out["volumeMounts"] = [{"name": WEIGHTS_VOLUME, "mountPath": WEIGHTS_MOUNT}]
        out["env"] = [{"name": "HF_HUB_OFFLINE", "value": "1"}]  # local weights: never the Hub
    else:
        out["env"] = [
            {
                "name": HF_TOKEN_ENV,
                "valueSource": {"secretKeyRef": {"secret": opts.hf_token_secret, "version": "latest"}},
            }
        ]
    return out


def service_body(cfg: DeployConfig, opts: VllmOptions, *, with_name: bool = False) -> dict:
    """The Ollama engine's service (scaling, GPU, IAM-only ingress), with vLLM's container."""
    body = cloudrun.service_body(cfg, opts.image_for(cfg), with_name=with_name)
    template = body["template"]
    template["containers"] = [container(cfg, opts)]
    if opts.bucket:
        template["volumes"] = [{"name": WEIGHTS_VOLUME, "gcs": {"bucket": opts.bucket, "readOnly": True}}]
    body["labels"] = {**body["labels"], "engine": "vllm"}
    return body


def get_project(project: str) -> ApiRequest:
    """The project's number, which names Cloud Run's default runtime account."""
    return ApiRequest(
        "cloudresourcemanager",
        "v1",
        "GET",
        f"v1/projects/{project}",
        purpose="Find the project number (the default runtime account)",
        when="without --service-account",
        context={"project": project},
    )


def runtime_member(cfg: DeployConfig, project_number: str = "PROJECT_NUMBER") -> str:
    """Who the revision runs as: the given account, or Compute Engine's default one."""
    email = cfg.service_account or f"{project_number}-compute@developer.gserviceaccount.com"
    return f"serviceAccount:{email}"


def secret_requests(cfg: DeployConfig, opts: VllmOptions) -> list[ApiRequest]:
    """Let the runtime account read the Hugging Face token (only without a bucket)."""
    if not opts.hf_token_secret:
        return []
    policy = {"etag": "BwYAAAAAAAA=", "bindings": [
        {"role": secretmanager.ACCESSOR, "members": [runtime_member(cfg)]}]}  # fmt: skip
    reqs = [] if cfg.service_account else [get_project(cfg.project)]
    return [
        *reqs,
        secretmanager.get_iam_policy(cfg.project, opts.hf_token_secret),
        secretmanager.set_iam_policy(cfg.project, opts.hf_token_secret, policy),
    ]


def required_apis(opts: VllmOptions) -> tuple[str, ...]:
    return (catalog.RUN_API, catalog.SECRET_MANAGER_API) if opts.hf_token_secret else (catalog.RUN_API,)


def create_service(cfg: DeployConfig, opts: VllmOptions) -> ApiRequest:
    body = service_body(cfg, opts)
    return cloudrun.create_service_with(cfg, body, f"Create the vLLM GPU service ({cfg.gpu_type})")


def update_service(cfg: DeployConfig, opts: VllmOptions) -> ApiRequest:
    body = service_body(cfg, opts, with_name=True)
    return cloudrun.update_service_with(cfg, body, "Update the existing vLLM service (new revision)")


def plan_requests(cfg: DeployConfig, opts: VllmOptions, member: str) -> list[ApiRequest]:
    """Every request of a first vLLM deploy, in order: no repository, no build."""
    opts.validate(cfg.validate())
    wanted = required_apis(opts)
    parent = f"projects/{cfg.project}/locations/{cfg.region}"
    policy, _ = cloudrun.with_invoker({"etag": "BwYAAAAAAAA="}, [member])
    return [
        serviceusage.batch_get(cfg.project, wanted),
        serviceusage.batch_enable(cfg.project, list(wanted)),
        operations.get("serviceusage", "v1", "operations/OPERATION_ID"),
        *secret_requests(cfg, opts),
        cloudrun.get_service(cfg),
        create_service(cfg, opts),
        update_service(cfg, opts),
        operations.get("run", "v2", f"{parent}/operations/OPERATION_ID"),
        cloudrun.test_permissions(cfg, [roles.INVOKE]),
        cloudrun.get_iam_policy(cfg),
        cloudrun.set_iam_policy(cfg, policy),
    ]


def first_call(cfg: DeployConfig) -> dict:
    """The call that shows the service answers: one short chat on the OpenAI API."""
    body = {"model": cfg.model, "messages": [{"role": "user", "content": "Say hello."}], "max_tokens": 8}
    return {
        "method": "POST",
        "url": "SERVICE_URL/v1/chat/completions",
        "body": body,
        "auth": "a Google ID token whose audience is SERVICE_URL",
        "purpose": "Check the model answers (vLLM loaded it before the startup probe passed)",
        "when": "after the invoker grant",
    }


def notes(cfg: DeployConfig, opts: VllmOptions) -> list[str]:
    source = (
        f"Weights: gs://{opts.bucket}/{opts.weights_path(cfg).removeprefix(WEIGHTS_MOUNT + '/')}, "
        f"mounted read-only at {WEIGHTS_MOUNT}; the service account needs "
        "roles/storage.objectViewer on the bucket."
        if opts.bucket
        else f"Weights: downloaded from Hugging Face ({opts.repository(cfg)}) at every cold start, "
        f"with {HF_TOKEN_ENV} from the secret {opts.hf_token_secret}; the service account needs "
        "roles/secretmanager.secretAccessor on it. A bucket starts faster."
    )
    return [
        source,
        f"Startup probe: GET /health every {STARTUP_PROBE['periodSeconds']} s for up to "
        f"{STARTUP_PROBE['periodSeconds'] * STARTUP_PROBE['failureThreshold']} s while vLLM loads.",
        f"vLLM serves {cfg.ollama_num_parallel} sequences at once (--max-num-seqs); Cloud Run sends "
        f"each instance up to {cfg.concurrency}.",
        f"The app talks to it as cloudrun:SERVICE_URL (OpenAI-compatible, detected), model {cfg.model}.",
    ]


def plan_json(cfg: DeployConfig, opts: VllmOptions, member: str, endpoints: Endpoints | None = None) -> dict:
    endpoints = endpoints or Endpoints()
    reqs = plan_requests(cfg, opts, member)
    return {
        "engine": "vllm",
        "service": cfg.service_name,
        "config": cfg.to_dict(),
        "image": opts.image_for(cfg),
        "vllm": {
            "weights": opts.weights_path(cfg),
            "bucket": opts.bucket or None,
            "hf_token_secret": opts.hf_token_secret or None,
            "max_num_seqs": cfg.ollama_num_parallel,
            "max_model_len": opts.max_model_len,
        },
        "notes": notes(cfg, opts),
        "requests": [r.to_dict(endpoints) for r in reqs],
        "first_call": first_call(cfg),
    }


def plan_text(cfg: DeployConfig, opts: VllmOptions, member: str, endpoints: Endpoints | None = None) -> str:
    endpoints = endpoints or Endpoints()
    reqs = plan_requests(cfg, opts, member)
    lines = [f"# note: {n}" for n in notes(cfg, opts)] + [""]
    for i, req in enumerate(reqs, 1):
        when = f"  [{req.when}]" if req.when else ""
        lines.append(f"# {i}. {req.purpose}{when}\n{req.describe(endpoints)}\n")
    call = first_call(cfg)
    lines.append(
        f"# {len(reqs) + 1}. {call['purpose']}  [{call['when']}]\n"
        f"{call['method']} {call['url']} ({call['auth']})\n{json.dumps(call['body'])}"
    )
    return "\n".join(lines)


def gcloud_commands(cfg: DeployConfig, opts: VllmOptions, member: str) -> list[str]:
    """The same deploy as gcloud commands."""
    opts.validate(cfg.validate())
    q, p = shlex.quote, f"--project={cfg.project}"
    probe = STARTUP_PROBE
    flags = [
        f"--image={opts.image_for(cfg)}",
        f"--region={cfg.region}",
        p,
        *cloudrun.gpu_flags(cfg),
        f"--port={PORT}",
        f"--concurrency={cfg.concurrency}",
        f"--max-instances={cfg.max_instances}",
        f"--min-instances={cfg.min_instances}",
        f"--timeout={cfg.timeout_s}",
        "--command=vllm",
        f"--args={q(','.join(server_args(cfg, opts)))}",
        f"--startup-probe=httpGet.path=/health,httpGet.port={PORT},"
        f"periodSeconds={probe['periodSeconds']},timeoutSeconds={probe['timeoutSeconds']},"
        f"failureThreshold={probe['failureThreshold']}",
        labels_flag(engine="vllm", model=model_slug(cfg.model)),
        "--no-allow-unauthenticated",
    ]
    if opts.bucket:
        flags += [
            f"--add-volume=name={WEIGHTS_VOLUME},type=cloud-storage,bucket={opts.bucket},readonly=true",
            f"--add-volume-mount=volume={WEIGHTS_VOLUME},mount-path={WEIGHTS_MOUNT}",
            "--set-env-vars=HF_HUB_OFFLINE=1",
        ]
    else:
        flags.append(f"--set-secrets={HF_TOKEN_ENV}={opts.hf_token_secret}:latest")
    if cfg.service_account:
        flags.append(f"--service-account={cfg.service_account}")
    beta = "gcloud beta run deploy" if cfg.gpu.preview else "gcloud run deploy"
    return [
        " \\\n    ".join([f"gcloud services enable {' '.join(required_apis(opts))} {p}"]),
        " \\\n    ".join([f"{beta} {cfg.service_name}", *flags]),
        " \\\n    ".join(
            [
                f"gcloud run services add-iam-policy-binding {cfg.service_name}",
                f"--member={q(member)}",
                f"--role={cloudrun.INVOKER}",
                f"--region={cfg.region}",
                p,
            ]
        ),
    ]
