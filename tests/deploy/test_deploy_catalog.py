"""The GPU catalogue, the config, and events as the page will use them."""

from __future__ import annotations

import json
import re

from deploy import catalog, events
from deploy.config import DeployConfig
from deploy.discovery import load


def test_regions_offered_per_gpu():
    l4 = [r.name for r in catalog.regions_for("nvidia-l4")]
    assert "us-central1" in l4 and "europe-west1" in l4
    assert catalog.regions_for("nvidia-l4")[0].label == "Iowa"
    assert [g.name for g in catalog.gpus_for("europe-west1")] == ["nvidia-l4"]
    assert {g.name for g in catalog.gpus_for("us-central1")} == set(catalog.GPU_TYPES)
    assert catalog.gpus_for("europe-west2") == []


def test_gpu_minimums_from_the_docs():
    l4, rtx = catalog.GPU_TYPES["nvidia-l4"], catalog.GPU_TYPES["nvidia-rtx-pro-6000"]
    assert (l4.min_cpu, l4.min_memory_gib) == (4, 16)
    assert (rtx.min_cpu, rtx.min_memory_gib) == (20, 80) and rtx.preview
    assert catalog.resource_problems("nvidia-l4", "4", "16Gi") == []
    assert catalog.resource_problems("nvidia-l4", "4", "16384Mi") == []
    assert catalog.resource_problems("nvidia-l4", "4000m", "16Gi") == []
    assert catalog.resource_problems("nvidia-l4", "4", "15Gi")
    assert catalog.resource_problems("nvidia-l4", "eight", "16Gi")


def test_discovery_document_does_not_enumerate_accelerators():
    """Why the catalogue exists: run.v2 types the accelerator as a free string."""
    schema = load("run", "v2")["schemas"]["GoogleCloudRunV2NodeSelector"]
    assert "enum" not in schema["properties"]["accelerator"]
    assert (
        "gpuZonalRedundancyDisabled"
        in load("run", "v2")["schemas"]["GoogleCloudRunV2RevisionTemplate"]["properties"]
    )


def test_required_apis_and_prebuilt_images():
    assert catalog.required_apis(True) == ("run.googleapis.com",)
    assert "cloudbuild.googleapis.com" in catalog.required_apis(False)
    assert all(
        i.startswith("us-docker.pkg.dev/cloudrun/container/gemma/") for i in catalog.PREBUILT_IMAGES.values()
    )


def test_cost_note_mentions_lifetime_billing_and_idle_min_instances():
    note = catalog.cost_note("nvidia-l4", "8", "32Gi", 1, 2)
    assert "whole lifetime" in note and "around the clock" in note and "2 GPU" in note
    assert "scales to zero" in catalog.cost_note("nvidia-l4", "8", "32Gi", 0, 1)


def test_config_defaults_and_round_trip():
    cfg = DeployConfig("workshop-proj", "us-central1", model=catalog.NOTEBOOK_MODEL)
    assert (cfg.model, cfg.gpu_type, cfg.concurrency, cfg.ollama_num_parallel) == (
        "gemma2:9b",
        "nvidia-l4",
        4,
        4,
    )
    assert (cfg.cpu_limit, cfg.memory_limit, cfg.service_name) == ("8", "32Gi", "ollama-gemma2-9b")
    assert cfg.image == ("us-central1-docker.pkg.dev/workshop-proj/ollama-workshop/ollama-gemma2-9b:latest")
    assert (cfg.context_length, cfg.embed_model) == (8192, "embeddinggemma")
    assert cfg.problems() == []
    assert DeployConfig("workshop-proj", "us-central1").model == catalog.DEFAULT_MODEL
    again = DeployConfig.from_dict(cfg.with_changes(invoker_members=("user:a@b.c",)).to_dict())
    assert again.invoker_members == ("user:a@b.c",)


def test_the_model_catalog_is_complete_data():
    models = catalog.models()
    wanted = {
        "gemma4:e2b",
        "gemma4:e4b",
        "gemma4:12b",
        "gemma4:26b",
        "gemma4:31b",
        "gemma3:1b",
        "gemma3:4b",
        "gemma3:12b",
        "gemma3:27b",
        "gemma3:27b-it-qat",
        "gemma3n:e2b",
        "gemma3n:e4b",
        "gemma2:9b",
        "embeddinggemma",
    }
    assert wanted <= set(models)
    sources = catalog.model_sources()
    for spec in models.values():
        assert spec.weights_gb > 0 and spec.context >= 2048 and spec.licence in catalog.LICENCES
        assert spec.sources and set(spec.sources) <= set(sources), spec.tag
        assert (spec.kv is None) == (spec.kind == "embedding"), spec.tag
        expected = "apache-2.0" if spec.family == "gemma4" else "gemma"  # Gemma 4 left the Gemma terms
        assert spec.licence == expected, spec.tag
    assert models["gemma4:12b"].min_ollama == "0.30.5" and models["gemma4:e4b"].min_ollama == "0.20.0"
    assert "notebook" in models[catalog.NOTEBOOK_MODEL].label
    assert all(s["read"] == "2026-12-02" and s["url"].startswith("https://") for s in sources.values())


def test_the_pinned_server_supports_every_catalog_model():
    """One pin (the Dockerfile's FROM line), and every catalog minimum at or below it."""
    pin = catalog.ollama_version()
    assert catalog.parse_version(pin) >= (0, 30, 5)
    for spec in catalog.models().values():
        assert catalog.parse_version(spec.min_ollama) <= catalog.parse_version(pin), spec.tag
        assert catalog.version_problems(spec.tag) == []
    assert catalog.version_problems("gemma4:12b", "0.30.3")  # ollama/ollama#16486: HTTP 412
    assert catalog.parse_version("v0.30.5-rc1") == (0, 30, 5)
    root = catalog.OLLAMA_DOCKERFILE.parent.parent
    code = [
        *root.glob("deploy/**/*.py"),
        *root.glob("deploy/*.json"),
        *root.glob("pages/**/*.py"),
        *root.glob("ollama_container/*"),
    ]
    pins = [path for path in code if re.search(r"ollama/ollama:\d", path.read_text())]
    assert pins == [catalog.OLLAMA_DOCKERFILE]  # the version is written in one place


def test_events_round_trip_through_dicts():
    samples = [
        events.StepStarted("build", "Build"),
        events.BuildStatus("b", "WORKING", "u", (("s1", "SUCCESS"),)),
        events.LogLines(("a", "b")),
        events.Done("https://x", "svc"),
        events.Failed("build", "m", "f", "build_failed", ("tail",)),
        events.OperationProgress("op", False, "Ready: pending"),
        events.Notice("n", "warning"),
        events.StepFinished("apis", "A", "enabled"),
    ]
    for sample in samples:
        data = sample.to_dict()
        assert data["type"] == sample.type
        assert events.from_dict(json.loads(json.dumps(data))) == sample


def test_a_job_saved_before_the_embedder_existed_claims_none():
    old = DeployConfig("workshop-proj", "us-central1", model="gemma2:9b").to_dict()
    del old["embed_model"], old["context_length"]
    again = DeployConfig.from_dict(old)
    assert again.embed_model == "" and again.context_length == catalog.DEFAULT_CONTEXT
