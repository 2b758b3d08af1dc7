"""Artifact Registry: the Docker repository the build pushes to."""

from __future__ import annotations

from urllib.parse import quote

from .api import ApiRequest
from .config import MANAGED_LABELS, DeployConfig


def repository_name(cfg: DeployConfig) -> str:
    return f"projects/{cfg.project}/locations/{cfg.region}/repositories/{cfg.repository}"


def _ctx(cfg: DeployConfig) -> dict:
    return {"project": cfg.project, "region": cfg.region}


def get_repository(cfg: DeployConfig) -> ApiRequest:
    return ApiRequest(
        "artifactregistry",
        "v1",
        "GET",
        f"v1/{repository_name(cfg)}",
        purpose="Does the Docker repository exist?",
        context=_ctx(cfg),
    )


def create_repository(cfg: DeployConfig) -> ApiRequest:
    parent = f"projects/{cfg.project}/locations/{cfg.region}"
    body = {
        "format": "DOCKER",
        "description": "Ollama images for the RAG workshop",
        "labels": dict(MANAGED_LABELS),
    }
    return ApiRequest(
        "artifactregistry",
        "v1",
        "POST",
        f"v1/{parent}/repositories",
        params=(("repositoryId", cfg.repository),),
        body=body,
        purpose="Create the Docker repository",
        when="if it does not exist",
        context=_ctx(cfg),
    )


def delete_repository(cfg: DeployConfig) -> ApiRequest:
    return ApiRequest(
        "artifactregistry",
        "v1",
        "DELETE",
        f"v1/{repository_name(cfg)}",
        purpose="Delete the Docker repository",
        context=_ctx(cfg),
    )


def delete_image(cfg: DeployConfig) -> ApiRequest:
    """A Docker image is a package; its ID must be URL-encoded."""
    package = quote(cfg.image_name, safe="")
    return ApiRequest(
        "artifactregistry",
        "v1",
        "DELETE",
        f"v1/{repository_name(cfg)}/packages/{package}",
        purpose="Delete the built image (all its tags)",
        context=_ctx(cfg),
    )
