"""The dry run: exact ordered requests (validated) and the gcloud equivalent."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from deploy import catalog, cloudbuild, plan
from deploy.config import REPO_ROOT, DeployConfig, Endpoints
from deploy.discovery import resolve, validate_request
from deploy.errors import ConfigError

CONFIGS = [
    DeployConfig("workshop-proj", "us-central1", model=catalog.NOTEBOOK_MODEL),
    DeployConfig(
        "workshop-proj",
        "europe-west4",
        model="gemma3:12b",
        concurrency=8,
        num_parallel=4,
        max_instances=3,
        gpu_zonal_redundancy=True,
    ),
    DeployConfig("workshop-proj", "asia-southeast1", model="gemma3:4b", use_prebuilt=True),
    DeployConfig(
        "workshop-proj",
        "us-central1",
        model="gemma3:27b",
        gpu_type="nvidia-rtx-pro-6000",
        service_account="ollama@x.iam.gserviceaccount.com",
    ),
    DeployConfig("workshop-proj", "us-central1"),  # the default: the fit check's choice
]


@pytest.mark.parametrize("cfg", CONFIGS, ids=lambda c: f"{c.model}-{c.gpu_type}")
def test_every_planned_request_matches_the_discovery_documents(cfg):
    for req in plan.plan_requests(cfg):
        assert validate_request(req) == [], (req.purpose, validate_request(req))


def test_plan_order_and_content():
    cfg = CONFIGS[0]
    ids = [resolve(r.api, r.version, r.method, r.path).id.split(".", 1)[1] for r in plan.plan_requests(cfg)]
    assert ids == [
        "services.batchGet",
        "services.batchEnable",
        "operations.get",
        "projects.locations.repositories.get",
        "projects.locations.repositories.create",
        "projects.locations.operations.get",
        "projects.locations.builds.create",
        "projects.locations.builds.get",
        "objects.get",
        "projects.locations.services.get",
        "projects.locations.services.create",
        "projects.locations.services.patch",
        "projects.locations.operations.get",
        "projects.locations.services.testIamPermissions",
        "projects.locations.services.getIamPolicy",
        "projects.locations.services.setIamPolicy",
    ]
    create = _create_service(cfg)
    template = create.body["template"]
    container = template["containers"][0]
    assert template["nodeSelector"] == {"accelerator": "nvidia-l4"}
    assert container["resources"]["limits"] == {"cpu": "8", "memory": "32Gi", "nvidia.com/gpu": "1"}
    assert container["resources"]["cpuIdle"] is False  # no CPU throttling
    assert container["startupProbe"]["tcpSocket"] == {"port": 8080}
    assert template["gpuZonalRedundancyDisabled"] is True
    assert template["timeout"] == "600s"
    assert template["scaling"] == {"minInstanceCount": 0, "maxInstanceCount": 1}
    assert create.body["invokerIamDisabled"] is False and "launchStage" not in create.body


def _create_service(cfg):
    return next(r for r in plan.plan_requests(cfg) if r.method == "POST" and r.path.endswith("/services"))


def test_concurrency_and_num_parallel_stay_consistent():
    for cfg in CONFIGS:
        body = _create_service(cfg).body
        template = body["template"]
        env = {e["name"]: e["value"] for e in template["containers"][0]["env"]}
        parallel = int(env["OLLAMA_NUM_PARALLEL"])
        assert parallel <= template["maxInstanceRequestConcurrency"] <= 2 * parallel
    with pytest.raises(ConfigError, match="more than twice"):
        DeployConfig("p-123456", "us-central1", concurrency=9, num_parallel=4).validate()
    with pytest.raises(ConfigError, match="below OLLAMA_NUM_PARALLEL"):
        DeployConfig("p-123456", "us-central1", concurrency=2, num_parallel=4).validate()


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"cpu": "2"}, "at least 4 CPU and 16Gi"),
        ({"memory": "8Gi"}, "at least 4 CPU and 16Gi"),
        ({"cpu": "16"}, "at most 8 CPU"),
        ({"gpu_type": "nvidia-rtx-pro-6000", "cpu": "8", "memory": "32Gi"}, "20 CPU and 80Gi"),
        ({"region": "europe-west2"}, "does not offer nvidia-l4 in 'europe-west2'"),
        ({"gpu_type": "nvidia-h100"}, "Unknown GPU type"),
        ({"model": "Gemma 2"}, "not an Ollama model name"),
        ({"use_prebuilt": True}, "No prebuilt image for 'gemma2:9b'"),
        ({"max_instances": 0}, "Max instances"),
        ({"invoker_members": ("bob@example.com",)}, "not an IAM member"),
    ],
)
def test_invalid_settings_are_refused_before_sending(changes, message):
    cfg = CONFIGS[0].with_changes(**changes)
    with pytest.raises(ConfigError, match=message):
        plan.plan_requests(cfg)


def test_preview_gpu_uses_beta_launch_stage_and_gcloud_beta():
    cfg = CONFIGS[3]
    body = _create_service(cfg).body
    assert body["launchStage"] == "BETA"
    assert body["template"]["serviceAccount"] == "ollama@x.iam.gserviceaccount.com"
    deploy = plan.gcloud_commands(cfg)[3]
    assert deploy.startswith("gcloud beta run deploy")
    assert "--service-account=ollama@x.iam.gserviceaccount.com" in deploy


def test_gcloud_commands_mirror_the_requests():
    cmds = plan.gcloud_commands(CONFIGS[0], "user:ada@example.com")
    assert cmds[0].startswith(
        "gcloud services enable run.googleapis.com artifactregistry.googleapis.com cloudbuild.googleapis.com"
    )
    assert "--repository-format=docker" in cmds[1]
    assert "--config=ollama_container/cloudbuild.json" in cmds[2]
    assert "_MODEL=gemma2:9b,_NUM_PARALLEL=4,_IMAGE=us-central1-docker.pkg.dev/" in cmds[2]
    deploy = cmds[3]
    for flag in (
        "--gpu=1",
        "--gpu-type=nvidia-l4",
        "--no-gpu-zonal-redundancy",
        "--cpu=8",
        "--memory=32Gi",
        "--no-cpu-throttling",
        "--concurrency=4",
        "--set-env-vars=OLLAMA_NUM_PARALLEL=4",
        "--max-instances=1",
        "--timeout=600",
        "--no-allow-unauthenticated",
        "--startup-probe=tcpSocket.port=8080,",
    ):
        assert flag in deploy, flag
    assert "--member=user:ada@example.com --role=roles/run.invoker" in cmds[4].replace(" \\\n    ", " ")
    warm_up = cmds[5]
    assert warm_up.startswith('curl -sS -X POST "$(gcloud run services describe ollama-gemma2-9b')
    assert "print-identity-token" in warm_up and '-d \'{"model": "gemma2:9b"}\'' in warm_up
    prebuilt = plan.gcloud_commands(CONFIGS[2])
    assert len(prebuilt) == 4 and "cloudrun/container/gemma/gemma3-4b" in prebuilt[1]


def test_plan_json_has_advice_and_cost():
    data = plan.plan_json(CONFIGS[1], Endpoints())
    assert "OLLAMA_NUM_PARALLEL" in data["concurrency_advice"]
    assert "whole lifetime" in data["cost_note"]
    assert data["requests"][0]["url"].startswith(
        "https://serviceusage.googleapis.com/v1/projects/workshop-proj/services:batchGet?"
    )
    assert all({"method", "url", "body"} <= set(r) for r in data["requests"])
    assert [s["step"] for s in data["steps"]][-2:] == ["invoker", "warm"]
    assert data["warm_up"]["url"] == "SERVICE_URL/api/generate"
    assert data["warm_up"]["body"] == {"model": "gemma3:12b"}


def test_build_location_is_planned_and_checked():
    cfg = CONFIGS[0].with_changes(build_location="us-west2")
    build = next(r for r in plan.plan_requests(cfg) if r.path.endswith("/builds"))
    assert "/locations/us-west2/" in build.path
    assert "--region=us-west2" in plan.gcloud_commands(cfg)[2]
    with pytest.raises(ConfigError, match="not a region like us-central1"):
        plan.plan_requests(cfg.with_changes(build_location="us west"))


def _cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "deploy", *args], cwd=REPO_ROOT, capture_output=True, text=True, timeout=60
    )


def test_cli_plan_json_and_gcloud():
    base = [
        "plan",
        "--project",
        "workshop-proj",
        "--region",
        "us-central1",
        "--model",
        "gemma2:9b",
        "--gpu-type",
        "nvidia-l4",
        "--concurrency",
        "4",
        "--max-instances",
        "2",
    ]
    out = _cli(*base, "--json")
    assert out.returncode == 0, out.stderr
    data = json.loads(out.stdout)
    methods = [(r["method"], r["url"].split("?")[0].rsplit("/", 1)[-1]) for r in data["requests"]]
    assert methods[0] == ("GET", "services:batchGet")
    assert ("POST", "builds") in methods and methods[-1] == ("POST", "ollama-gemma2-9b:setIamPolicy")
    assert data["config"]["max_instances"] == 2
    out = _cli(*base, "--gcloud")
    assert out.returncode == 0 and "gcloud run deploy ollama-gemma2-9b" in out.stdout
    out = _cli(*base, "--build-location", "europe-west1")
    assert out.returncode == 0 and "v1/projects/workshop-proj/locations/europe-west1/builds" in out.stdout
    assert out.stdout.rstrip().endswith('{"model": "gemma2:9b"}')  # the warm-up call comes last
    bad = _cli("plan", "--project", "workshop-proj", "--region", "europe-west2", "--json")
    assert bad.returncode == 2 and "fix:" in bad.stderr and "us-central1" in bad.stderr


def test_cli_catalog_lists_gpus_and_regions():
    out = _cli("catalog")
    assert out.returncode == 0
    for gpu in catalog.GPU_TYPES:
        assert gpu in out.stdout


@pytest.mark.parametrize("model", ["gemma4:e4b", catalog.DEFAULT_MODEL, "gemma4:12b"])
def test_planned_image_runs_an_ollama_new_enough_for_the_model(model):
    cfg = DeployConfig("workshop-proj", "us-central1", model=model)
    data = plan.plan_json(cfg)
    server = data["model"]["server"].split(":", 1)[1]
    assert data["model"]["server"] == f"ollama/ollama:{catalog.ollama_version()}"
    assert catalog.parse_version(server) >= catalog.parse_version(catalog.model_spec(model).min_ollama)
    assert data["model"]["fit"]["fits"] and data["model"]["warnings"] == []
    subs = cloudbuild.substitutions(cfg)  # the REST build and the gcloud plan send these
    assert subs["_MODEL"] == model and subs["_EMBED_MODEL"] == catalog.EMBED_MODEL
    env = {e["name"]: e["value"] for e in _create_service(cfg).body["template"]["containers"][0]["env"]}
    assert env["OLLAMA_CONTEXT_LENGTH"] == "8192"  # set, never Ollama's own pick (32k on an L4)


def test_a_model_newer_than_the_pinned_server_is_refused(monkeypatch):
    catalog.ollama_version.cache_clear()
    monkeypatch.setattr(catalog, "ollama_version", lambda: "0.12.6")  # the old pin
    with pytest.raises(ConfigError, match=r"gemma4:e4b needs Ollama 0.20.0 or later.*HTTP 412"):
        plan.plan_requests(DeployConfig("workshop-proj", "us-central1", model="gemma4:e4b"))
    assert plan.plan_requests(DeployConfig("workshop-proj", "us-central1", model="gemma2:9b"))


def test_plan_text_and_page_parts_lead_with_the_memory_estimate():
    cfg = CONFIGS[1]
    text = plan.plan_text(cfg)
    assert text.startswith("# GPU memory: gemma3:12b on nvidia-l4: ") and "of 22.5 GiB" in text
    assert text.rstrip().endswith('{"model": "gemma3:12b"}')
    created = plan.created(cfg)
    assert any(
        line.startswith("Cloud Build image ") and "gemma3:12b and embeddinggemma" in line for line in created
    )
    assert any("Cloud Run service ollama-gemma3-12b in europe-west4" in line for line in created)
    assert len(plan.created(CONFIGS[2])) == 3  # prebuilt: no repository, no build


def test_an_unchecked_model_plans_with_a_warning():
    cfg = DeployConfig("workshop-proj", "us-central1", model="qwen3:8b")
    report = plan.plan_json(cfg)["model"]
    assert report["catalog"] is None and not report["fit"]["fits"] and report["fit"]["total_gib"] is None
    assert "not in the model catalog" in report["warnings"][0]
    out = _cli("plan", "--project", "workshop-proj", "--region", "us-central1", "--model", "qwen3:8b")
    assert out.returncode == 0 and "warning: qwen3:8b is not in the model catalog" in out.stderr
