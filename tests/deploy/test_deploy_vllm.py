"""The vLLM engine: planned requests checked against Google's discovery documents (run.v2
volumes, probes, secret env vars), its limits, and `python -m deploy plan --engine vllm`."""

from __future__ import annotations

import copy
import json
import subprocess
import sys

import pytest

from deploy import vllm
from deploy.config import REPO_ROOT, DeployConfig
from deploy.discovery import resolve, validate_request
from deploy.errors import ConfigError, DeployError

BUCKET = vllm.VllmOptions(bucket="workshop-weights")
HUB = vllm.VllmOptions(hf_token_secret="hf-token")
MEMBER = "user:lead@example.com"


def config(model: str = "gemma4:e4b", **kw) -> DeployConfig:
    kw.setdefault("service", vllm.service_name(model))
    return DeployConfig("workshop-proj", "us-central1", model=model, embed_model="", **kw)


CASES = [
    (config(), BUCKET),
    (config(concurrency=8, num_parallel=8, max_instances=3), HUB),
    (config("gemma4:31b", gpu_type="nvidia-rtx-pro-6000", service_account="vllm@p.iam.gserviceaccount.com"),
     vllm.VllmOptions(bucket="b-123", weights_dir="models/gemma-4-31B-it",
                      extra_args=("--enable-prefix-caching",))),
]  # fmt: skip


def service_request(cfg, opts):
    return next(r for r in vllm.plan_requests(cfg, opts, MEMBER) if r.method == "POST" and r.params)


@pytest.mark.parametrize(("cfg", "opts"), CASES, ids=lambda c: getattr(c, "model", ""))
def test_every_planned_request_matches_the_discovery_documents(cfg, opts):
    for req in vllm.plan_requests(cfg, opts, MEMBER):
        assert validate_request(req) == [], (req.purpose, validate_request(req))


def test_a_misspelled_field_in_a_volume_or_probe_is_caught():
    """The validation reaches into volumes and probes: a wrong name there is reported."""
    req = service_request(*CASES[0])
    body = copy.deepcopy(req.body)
    body["template"]["volumes"][0]["gcs"]["bucketName"] = "x"
    body["template"]["containers"][0]["startupProbe"]["httpGet"]["port"] = "8080x"
    problems = validate_request(type(req)(**{**req.__dict__, "body": body}))
    assert any("bucketName" in p for p in problems) and any("port" in p for p in problems)


def test_weights_come_from_the_bucket_mounted_read_only():
    cfg, opts = CASES[0]
    template = service_request(cfg, opts).body["template"]
    assert template["volumes"] == [
        {"name": "weights", "gcs": {"bucket": "workshop-weights", "readOnly": True}}
    ]
    container = template["containers"][0]
    assert container["volumeMounts"] == [{"name": "weights", "mountPath": vllm.WEIGHTS_MOUNT}]
    assert container["image"] == vllm.GOOGLE_GEMMA4_IMAGE and container["command"] == ["vllm"]
    args = container["args"]
    assert args[:2] == ["serve", f"{vllm.WEIGHTS_MOUNT}/gemma-4-E4B-it"]
    assert "--served-model-name=gemma4:e4b" in args and f"--port={vllm.PORT}" in args
    assert not any(e.get("valueSource") for e in container["env"])  # no Hugging Face token with a bucket


def test_a_hugging_face_token_comes_from_secret_manager_only_without_a_bucket():
    cfg, opts = CASES[1]
    reqs = vllm.plan_requests(cfg, opts, MEMBER)
    container = service_request(cfg, opts).body["template"]["containers"][0]
    assert container["env"] == [{"name": "HF_TOKEN", "valueSource": {"secretKeyRef": {
        "secret": "hf-token", "version": "latest"}}}]  # fmt: skip
    assert container["args"][1] == "google/gemma-4-E4B-it" and "volumeMounts" not in container
    assert "secretmanager.googleapis.com" in json.dumps(reqs[0].params)
    with pytest.raises(ConfigError, match="only used without a bucket"):
        vllm.VllmOptions(bucket="b-1", hf_token_secret="hf-token").validate(config())
    with pytest.raises(ConfigError, match="gated"):
        vllm.VllmOptions().validate(config())


def test_startup_probe_waits_for_the_load_within_cloud_runs_gpu_limit():
    for cfg, opts in CASES:
        probe = service_request(cfg, opts).body["template"]["containers"][0]["startupProbe"]
        assert probe["httpGet"] == {"path": "/health", "port": vllm.PORT}
        budget = probe["periodSeconds"] * probe["failureThreshold"]
        assert 600 < budget <= vllm.GPU_STARTUP_LIMIT_S and probe["periodSeconds"] <= 240


def test_concurrency_is_at_least_the_servers_sequences():
    for cfg, opts in CASES:
        template = service_request(cfg, opts).body["template"]
        seqs = next(a for a in template["containers"][0]["args"] if a.startswith("--max-num-seqs="))
        assert template["maxInstanceRequestConcurrency"] >= int(seqs.split("=")[1])
    too_low = DeployConfig("workshop-proj", "us-central1", model="gemma4:e4b", embed_model="", concurrency=2)
    assert not any("--max-num-seqs" in p for p in BUCKET.problems(too_low))
    assert any("batch would never fill" in p for p in BUCKET.problems(_unchecked(too_low, num_parallel=4)))


def _unchecked(cfg: DeployConfig, **changes) -> DeployConfig:
    return cfg.with_changes(**changes)  # built without validate(): vLLM's own check must catch it


def test_unknown_models_need_a_repository_and_bad_names_are_refused():
    assert any("--hf-model" in p for p in BUCKET.problems(config("qwen3:8b")))
    assert vllm.VllmOptions(bucket="b-1", hf_model="Qwen/Qwen3-8B").problems(config("qwen3:8b")) == []
    bad = vllm.VllmOptions(bucket="Bad_Bucket!", weights_dir="../x", hf_model="nope")
    problems = " ".join(bad.problems(config()))
    assert "not a Cloud Storage bucket" in problems and "'..'" in problems and "repository id" in problems


def run_cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "deploy", *args], cwd=REPO_ROOT, capture_output=True,
                          text=True, timeout=120)  # fmt: skip


COMMON = (
    "--project",
    "workshop-proj",
    "--region",
    "us-central1",
    "--model",
    "gemma4:e4b",
    "--engine",
    "vllm",
)


def test_cli_plan_json_and_gcloud():
    result = run_cli("plan", *COMMON, "--weights-bucket", "gs://workshop-weights/", "--json")
    assert result.returncode == 0, result.stderr
    plan = json.loads(result.stdout)
    assert plan["engine"] == "vllm" and plan["vllm"]["bucket"] == "workshop-weights"
    assert plan["service"] == "vllm-gemma4-e4b" and plan["config"]["engine"] == "vllm"
    ids = [resolve("run", "v2", r["method"], r["url"].split("run.googleapis.com/")[1].split("?")[0]).id
           for r in plan["requests"] if r["api"] == "run.v2"]  # fmt: skip
    assert "run.projects.locations.services.create" in ids and plan["first_call"]["url"].endswith(
        "/v1/chat/completions"
    )
    gcloud = run_cli("plan", *COMMON, "--weights-bucket", "workshop-weights", "--gcloud").stdout
    assert "--add-volume=name=weights,type=cloud-storage,bucket=workshop-weights,readonly=true" in gcloud
    assert "httpGet.path=/health" in gcloud and "--command=vllm" in gcloud


def test_cli_refuses_bad_vllm_settings_with_a_sentence_and_a_fix():
    result = run_cli("plan", *COMMON)
    assert result.returncode == 2 and "gated" in result.stderr and "fix:" in result.stderr
    assert "Traceback" not in result.stderr
    deploy = run_cli("deploy", *COMMON, "--weights-bucket", "Bad_Bucket!")  # told before any request
    assert deploy.returncode == 2 and "not a Cloud Storage bucket" in deploy.stderr
    assert "Traceback" not in deploy.stderr


def test_the_deploy_page_plans_vllm(monkeypatch, tmp_path):
    """The Deploy page (AppTest): the engine choice, vLLM's settings, its requests and gcloud."""
    from streamlit.testing.v1 import AppTest

    monkeypatch.setenv("DEPLOY_STATE_DIR", str(tmp_path / "jobs"))
    for var in ("K_SERVICE", "WORKSHOP_HOSTED"):
        monkeypatch.delenv(var, raising=False)
    at = AppTest.from_file(str(REPO_ROOT / "streamlit_app.py"), default_timeout=120)
    at.run()
    at.switch_page("pages/deploy.py").run()
    at.radio(key="d_engine").set_value("vllm").run()
    at.text_input(key="d_project").set_value("workshop-proj").run()
    assert not at.exception, [e.value for e in at.exception]
    assert any("gated" in w.value for w in at.warning)  # no bucket, no token secret: told, not planned
    assert not at.code
    at.selectbox(key="d_model_pick").set_value("gemma4:e4b").run()  # the default (26b) is bf16-too-big
    at.text_input(key="d_vllm_bucket").set_value("gs://workshop-weights").run()
    code = "\n".join(c.value for c in at.code)
    assert "--add-volume=name=weights,type=cloud-storage,bucket=workshop-weights" in code
    assert '"gcs": {' in code and "httpGet.path=/health" in code and not at.error


def test_the_fake_google_accepts_the_vllm_service_and_refuses_an_endless_probe(http, fake, monkeypatch):
    """Sent, not only planned: the fake checks each body against the discovery documents and
    Cloud Run's GPU rules, as Google would."""
    cfg = DeployConfig(fake.project, "us-central1", model="gemma4:e4b", embed_model="",
                       service="vllm-gemma4-e4b")  # fmt: skip
    fake.enabled |= {"run.googleapis.com"}
    operation = http.send(vllm.create_service(cfg, BUCKET))
    assert operation.get("name") and fake.problems == []
    monkeypatch.setitem(vllm.STARTUP_PROBE, "failureThreshold", 181)  # 1810 s: past the GPU limit
    with pytest.raises(DeployError, match="1800"):
        http.send(vllm.update_service(cfg, BUCKET))
