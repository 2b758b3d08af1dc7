"""Cloud Build: build the Ollama + model image and follow it (status, log tail).

ollama_container/cloudbuild.json is the one build definition: `gcloud builds
submit` uses it as is (uploading the folder), and the REST request below sends
the same steps with the two context files written by a first step, so no
source upload (and no staging bucket) is needed.
"""

from __future__ import annotations

import base64
import json
import re
import shlex
from urllib.parse import quote

from .api import ApiRequest
from .catalog import BUILD_REGIONS
from .config import CONTAINER_DIR, DeployConfig
from .errors import DeployError

CONTEXT_FILES = ("Dockerfile", "start.sh")
TERMINAL = {"SUCCESS", "FAILURE", "INTERNAL_ERROR", "TIMEOUT", "CANCELLED", "EXPIRED"}
BUILDER = "gcr.io/cloud-builders/docker"
# The cloudbuild v1 discovery document types Build.tags as free strings; Cloud Build itself
# refuses a tag outside this format (INVALID_ARGUMENT "invalid tag"), so it is checked here.
TAG_FORMAT = re.compile(r"[\w][\w.-]{0,127}", re.ASCII)


def build_definition() -> dict:
    return json.loads((CONTAINER_DIR / "cloudbuild.json").read_text())


def substitutions(cfg: DeployConfig) -> dict[str, str]:
    return {
        "_MODEL": cfg.model,
        "_NUM_PARALLEL": str(cfg.ollama_num_parallel),
        "_IMAGE": cfg.image,
        "_EMBED_MODEL": cfg.embed_model,
        "_CONTEXT_LENGTH": str(cfg.context_length),
    }


def _write_context_step() -> dict:
    """A step that recreates the build context from base64 (no '$' to substitute)."""
    commands = []
    for name in CONTEXT_FILES:
        data = base64.b64encode((CONTAINER_DIR / name).read_bytes()).decode()
        commands.append(f"printf %s {data} | base64 -d > {shlex.quote(name)}")
    commands.append("chmod 0755 start.sh")
    return {
        "id": "write-context",
        "name": BUILDER,
        "entrypoint": "bash",
        "args": ["-c", " && ".join(commands)],
    }


def job_tag(job_id: str) -> str:
    """The tag that finds a job's build again (builds.list) when a create reply was lost."""
    tag = f"deploy-{job_id}"
    if not TAG_FORMAT.fullmatch(tag):
        raise ValueError(f"{tag!r} is not a valid Cloud Build tag")
    return tag


def build_body(cfg: DeployConfig, tag: str = "") -> dict:
    body = build_definition()
    body["steps"] = [_write_context_step(), *body["steps"]]
    body["substitutions"] = {**body.get("substitutions", {}), **substitutions(cfg)}
    body["options"] = {**body.get("options", {}), "machineType": cfg.build_machine}
    body["timeout"] = f"{cfg.build_timeout_s}s"
    if tag:
        body["tags"] = [*body.get("tags", []), tag]
    return body


def _ctx(cfg: DeployConfig) -> dict:
    return {"project": cfg.project, "region": cfg.build_region}


def create_build(cfg: DeployConfig, tag: str = "") -> ApiRequest:
    """tag: the job's (job_tag), so a build whose create reply was lost can be found."""
    parent = f"projects/{cfg.project}/locations/{cfg.build_region}"
    return ApiRequest(
        "cloudbuild",
        "v1",
        "POST",
        f"v1/{parent}/builds",
        body=build_body(cfg, tag),
        purpose=f"Build {cfg.image} on {cfg.build_machine} (~10-45 min)",
        context=_ctx(cfg),
    )


def find_builds(cfg: DeployConfig, tag: str) -> ApiRequest:
    """The builds carrying `tag`, newest first (one job makes a handful at most)."""
    parent = f"projects/{cfg.project}/locations/{cfg.build_region}"
    return ApiRequest(
        "cloudbuild",
        "v1",
        "GET",
        f"v1/{parent}/builds",
        params=(("projectId", cfg.project), ("filter", f'tags="{tag}"'), ("pageSize", "50")),
        purpose="Find the job's build by its tag",
        when="on resume, when a create was sent but its reply never saved",
        context=_ctx(cfg),
    )


def reusable(builds: list[dict]) -> dict | None:
    """The newest build still running or succeeded; a failed one is built again."""
    for build in sorted(builds, key=lambda b: b.get("createTime", ""), reverse=True):
        status = build.get("status", "STATUS_UNKNOWN")
        if build.get("id") and (status == "SUCCESS" or status not in TERMINAL):
            return build
    return None


def get_build(cfg: DeployConfig, build_id: str) -> ApiRequest:
    name = f"projects/{cfg.project}/locations/{cfg.build_region}/builds/{build_id}"
    return ApiRequest(
        "cloudbuild",
        "v1",
        "GET",
        f"v1/{name}",
        purpose="Follow the build's status",
        when="repeated until it finishes",
        context=_ctx(cfg),
    )


def read_log(bucket: str, build_id: str) -> ApiRequest:
    """The build log object; send with a Range header to read only what is new."""
    bucket = bucket.removeprefix("gs://")
    obj = quote(f"log-{build_id}.txt", safe="")
    return ApiRequest(
        "storage",
        "v1",
        "GET",
        f"b/{quote(bucket, safe='')}/o/{obj}",
        params=(("alt", "media"),),
        purpose="Tail the build log",
        when="while the build runs",
    )


def step_statuses(build: dict) -> tuple[tuple[str, str], ...]:
    return tuple(
        (s.get("id") or s.get("name", "?"), s.get("status", "PENDING")) for s in build.get("steps", [])
    )


def built_image(build: dict, fallback: str) -> str:
    """The pushed image pinned by digest, so the service runs exactly this build."""
    for image in (build.get("results") or {}).get("images", []):
        if image.get("digest") and image.get("name"):
            return f"{image['name'].rsplit(':', 1)[0]}@{image['digest']}"
    return fallback


def failure_reason(build: dict) -> str:
    info = build.get("failureInfo") or {}
    return info.get("detail") or build.get("statusDetail") or build.get("status", "failed")


def location_refused(err: DeployError) -> bool:
    """Cloud Build's answer for a region this project may not build in, e.g.
    FAILED_PRECONDITION "due to quota restrictions, cannot run builds in this region"."""
    text = err.message.lower()
    return err.status == "FAILED_PRECONDITION" and ("region" in text or "location" in text)


def location_error(cfg: DeployConfig, err: DeployError) -> DeployError:
    return DeployError(
        f"Cloud Build refused to build in {cfg.build_region}: {err.message}",
        f"Set the Cloud Build region (Advanced on the Deploy page, --build-location on the "
        f"command line) to one of {', '.join(BUILD_REGIONS)}; the image still goes to the "
        f"repository in {cfg.region}.",
        status=err.status,
        http_status=err.http_status,
    )
