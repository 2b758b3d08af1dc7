"""Cloud Run Admin API v2: the GPU service, its IAM policy, deletion."""

from __future__ import annotations

import copy
from typing import TYPE_CHECKING

from . import iam
from .api import ApiRequest
from .config import MANAGED_LABELS, DeployConfig, model_slug

if TYPE_CHECKING:
    from .http import GoogleHttp

PORT = 8080
INVOKER = "roles/run.invoker"
# TCP probe on the serving port: passes as soon as Ollama listens (seconds); the
# 240 s budget covers a slow image start, after which Cloud Run fails the revision.
STARTUP_PROBE = {
    "tcpSocket": {"port": PORT},
    "initialDelaySeconds": 0,
    "periodSeconds": 10,
    "timeoutSeconds": 5,
    "failureThreshold": 24,
}


def service_name(cfg: DeployConfig) -> str:
    return f"projects/{cfg.project}/locations/{cfg.region}/services/{cfg.service_name}"


def _ctx(cfg: DeployConfig) -> dict:
    return {"project": cfg.project, "region": cfg.region, "gpu": cfg.gpu_type}


def container(cfg: DeployConfig, image: str) -> dict:
    limits = {"cpu": cfg.cpu_limit, "memory": cfg.memory_limit, "nvidia.com/gpu": "1"}
    return {
        "name": "ollama",
        "image": image,
        "ports": [{"name": "http1", "containerPort": PORT}],
        "env": [
            {"name": "OLLAMA_NUM_PARALLEL", "value": str(cfg.ollama_num_parallel)},
            # set, not left to Ollama (which picks 32k on a 24 GB GPU): the fit check's number
            {"name": "OLLAMA_CONTEXT_LENGTH", "value": str(cfg.context_length)},
        ],
        # cpuIdle False = no CPU throttling: GPU services must keep CPU allocated.
        "resources": {"limits": limits, "cpuIdle": False, "startupCpuBoost": True},
        "startupProbe": copy.deepcopy(STARTUP_PROBE),
    }


def service_body(cfg: DeployConfig, image: str, *, with_name: bool = False) -> dict:
    template = {
        "containers": [container(cfg, image)],
        "nodeSelector": {"accelerator": cfg.gpu_type},
        "gpuZonalRedundancyDisabled": not cfg.gpu_zonal_redundancy,
        "maxInstanceRequestConcurrency": cfg.concurrency,
        "timeout": f"{cfg.timeout_s}s",
        "scaling": {"minInstanceCount": cfg.min_instances, "maxInstanceCount": cfg.max_instances},
        "labels": dict(MANAGED_LABELS),
    }
    if cfg.service_account:
        template["serviceAccount"] = cfg.service_account
    body = {
        "labels": {**MANAGED_LABELS, "model": model_slug(cfg.model)},
        "ingress": "INGRESS_TRAFFIC_ALL",
        "invokerIamDisabled": False,  # callers need roles/run.invoker and an ID token
        "template": template,
    }
    if cfg.gpu.preview:
        body["launchStage"] = "BETA"
    if with_name:
        body = {"name": service_name(cfg), **body}
    return body


def get_service(cfg: DeployConfig) -> ApiRequest:
    return ApiRequest(
        "run",
        "v2",
        "GET",
        f"v2/{service_name(cfg)}",
        purpose="Does the service exist? (create or update)",
        context=_ctx(cfg),
    )


def create_service(cfg: DeployConfig, image: str) -> ApiRequest:
    return create_service_with(cfg, service_body(cfg, image), f"Create the GPU service ({cfg.gpu_type})")


def create_service_with(cfg: DeployConfig, body: dict, purpose: str) -> ApiRequest:
    """services.create for either engine: `body` is its Service resource."""
    parent = f"projects/{cfg.project}/locations/{cfg.region}"
    return ApiRequest(
        "run",
        "v2",
        "POST",
        f"v2/{parent}/services",
        params=(("serviceId", cfg.service_name),),
        body=body,
        purpose=purpose,
        when="if it does not exist",
        context=_ctx(cfg),
    )


def update_service(cfg: DeployConfig, image: str) -> ApiRequest:
    body = service_body(cfg, image, with_name=True)
    return update_service_with(cfg, body, "Update the existing service (new revision)")


def update_service_with(cfg: DeployConfig, body: dict, purpose: str) -> ApiRequest:
    """services.patch for either engine: `body` is its Service resource, with its name."""
    return ApiRequest(
        "run",
        "v2",
        "PATCH",
        f"v2/{service_name(cfg)}",
        body=body,
        purpose=purpose,
        when="if it already exists",
        context=_ctx(cfg),
    )


def gpu_flags(cfg: DeployConfig) -> list[str]:
    """The gcloud run deploy flags both engines' services share: GPU, CPU, memory."""
    return [
        "--gpu=1",
        f"--gpu-type={cfg.gpu_type}",
        "--gpu-zonal-redundancy" if cfg.gpu_zonal_redundancy else "--no-gpu-zonal-redundancy",
        f"--cpu={cfg.cpu_limit}",
        f"--memory={cfg.memory_limit}",
        "--no-cpu-throttling",
        "--cpu-boost",
    ]


def delete_service(cfg: DeployConfig) -> ApiRequest:
    return ApiRequest(
        "run", "v2", "DELETE", f"v2/{service_name(cfg)}", purpose="Delete the GPU service", context=_ctx(cfg)
    )


def get_iam_policy(cfg: DeployConfig) -> ApiRequest:
    return ApiRequest(
        "run",
        "v2",
        "GET",
        f"v2/{service_name(cfg)}:getIamPolicy",
        purpose="Read who may invoke the service",
        context=_ctx(cfg),
    )


def set_iam_policy(cfg: DeployConfig, policy: dict) -> ApiRequest:
    return ApiRequest(
        "run",
        "v2",
        "POST",
        f"v2/{service_name(cfg)}:setIamPolicy",
        body={"policy": policy},
        purpose=f"Grant {INVOKER}",
        when="if the member lacks it",
        context=_ctx(cfg),
    )


def test_permissions(cfg: DeployConfig, permissions: list[str]) -> ApiRequest:
    return ApiRequest(
        "run",
        "v2",
        "POST",
        f"v2/{service_name(cfg)}:testIamPermissions",
        body={"permissions": permissions},
        purpose="Can the caller already invoke the service?",
        context=_ctx(cfg),
    )


def grant_invoker(http: GoogleHttp, cfg: DeployConfig, members: list[str], attempts: int = 3) -> list[str]:
    """Add members to run.invoker (read-modify-write; the etag guards races)."""
    return iam.grant_role(
        http, get_iam_policy(cfg), lambda p: set_iam_policy(cfg, p), INVOKER, members, attempts
    )


def with_invoker(policy: dict, members: list[str]) -> tuple[dict, list[str]]:
    """Policy with `members` holding run.invoker, and the members actually added."""
    return iam.with_role(policy, INVOKER, members)


def logs_url(cfg: DeployConfig) -> str:
    """The service's logs in the console (where start.sh and Ollama report load failures)."""
    return (
        f"https://console.cloud.google.com/run/detail/{cfg.region}/{cfg.service_name}/logs"
        f"?project={cfg.project}"
    )
