"""`--engine vllm` deployed for real, through the same job as Ollama, against the fake Google
(every request checked against the discovery documents): no build, the Hugging Face token's
Secret Manager grant only without a bucket, a resume after a lost create reply, the warm-up on
the OpenAI API, the bf16 fit refusal before any request, and the Deploy page."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
from streamlit.testing.v1 import AppTest

from deploy import events as ev
from deploy import fit, vllm, warm
from deploy.config import REPO_ROOT, DeployConfig
from deploy.errors import DeployError
from deploy.job import DeployJob
from rag.llms import make_target

SVC_CREATE = "run.projects.locations.services.create"
SVC_PATCH = "run.projects.locations.services.patch"
SECRET = "hf-token"
COMPUTE_SA = "serviceAccount:123456789012-compute@developer.gserviceaccount.com"


def vllm_cfg(fake, **kw) -> DeployConfig:
    kw.setdefault("weights_bucket", "gs://workshop-weights")
    return DeployConfig(fake.project, "us-central1", model="gemma4:e4b", engine="vllm", **kw)


def methods(fake) -> list[str]:
    return [m for m, _ in fake.calls]


def the_service(fake, name: str = "vllm-gemma4-e4b") -> dict:
    return fake.services[f"projects/{fake.project}/locations/us-central1/services/{name}"]


def cli(fake, sa_file, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "GOOGLE_APPLICATION_CREDENTIALS": str(sa_file), "DEPLOY_API_BASE": fake.base_url,
           "DEPLOY_POLL_SECONDS": "0", "NO_PROXY": "127.0.0.1"}  # fmt: skip
    return subprocess.run([sys.executable, "-m", "deploy", *args], cwd=REPO_ROOT, env=env,
                          capture_output=True, text=True, timeout=300)  # fmt: skip


def test_cli_deploys_vllm_from_hugging_face_end_to_end(fake, sa_file, tmp_path):
    """`python -m deploy deploy --engine vllm`: APIs, the token grant, the service, the invoker,
    then the model answers on the OpenAI API. Nothing is built."""
    fake.secrets.add(f"projects/{fake.project}/secrets/{SECRET}")
    fake.denied = {"run.routes.invoke"}
    state_dir = tmp_path / "jobs"
    args = ["--project", fake.project, "--region", "us-central1", "--model", "gemma4:e4b", "--engine", "vllm"]
    result = cli(fake, sa_file, "deploy", *args, "--hf-token-secret", SECRET, "--state-dir", str(state_dir))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "[done]" in result.stdout and "Traceback" not in result.stderr
    assert fake.problems == []
    called = methods(fake)
    assert not [m for m in called if m.startswith(("cloudbuild.", "artifactregistry."))]
    assert called.count(SVC_CREATE) == 1 and SVC_PATCH not in called
    assert {"run.googleapis.com", "secretmanager.googleapis.com"} <= fake.enabled
    # The runtime account (Compute Engine's default, by project number) may read the token ...
    assert fake.accessors(f"projects/{fake.project}/secrets/{SECRET}") == {COMPUTE_SA}
    container = the_service(fake)["template"]["containers"][0]
    assert container["image"] == vllm.GOOGLE_GEMMA4_IMAGE and container["args"][1] == "google/gemma-4-E4B-it"
    assert container["env"][0]["valueSource"]["secretKeyRef"]["secret"] == SECRET
    # ... and the warm-up asked the OpenAI API: the served model, then one token of chat.
    assert [path for path, _ in fake.openai_calls] == ["v1/models", "v1/chat/completions"]
    assert fake.openai_calls[1][1]["model"] == "gemma4:e4b" and fake.generate_calls == []
    (state_file,) = state_dir.glob("*.json")
    state = json.loads(state_file.read_text())
    assert state["config"]["engine"] == "vllm" and state["config"]["hf_token_secret"] == SECRET
    assert state["completed"] == ["apis", "secret", "service", "invoker", "warm"]
    assert state["service_operation"].startswith("projects/") and state["status"] == "succeeded"


def test_weights_from_a_bucket_need_no_secret(fake, make_job):
    fake.denied = set()
    job = make_job(vllm_cfg(fake))
    events = list(job.run())
    assert events[-1] == ev.Done(job.url, "vllm-gemma4-e4b"), events[-1]
    assert job.state.completed == ["apis", "service", "invoker", "warm"]
    called = methods(fake)
    assert not [m for m in called if m.startswith(("secretmanager.", "cloudresourcemanager.projects.get"))]
    template = the_service(fake)["template"]
    volume = {"name": "weights", "gcs": {"bucket": "workshop-weights", "readOnly": True}}
    assert template["volumes"] == [volume]
    assert template["containers"][0]["env"] == [{"name": "HF_HUB_OFFLINE", "value": "1"}]
    assert "secretmanager.googleapis.com" not in fake.enabled


def test_the_warm_up_names_a_model_the_server_does_not_serve(fake, make_job, credentials):
    fake.denied = set()
    job = make_job(vllm_cfg(fake))
    assert list(job.run())[-1].type == "done"
    other = warm.load_model(job.url, "gemma4:e2b", timeout_s=10, logs_url="LOGS", credentials=credentials,
                            api=warm.OPENAI)  # fmt: skip
    with pytest.raises(DeployError, match=r"does not serve the model gemma4:e2b.*lists gemma4:e4b") as info:
        list(other)
    assert "--served-model-name" in info.value.fix


def test_a_lost_create_reply_resumes_without_a_second_service(fake, make_job, reload_job):
    """The create reached Cloud Run but its reply was lost: the resume finds the service by its
    image and follows it, never sending a second create."""
    fake.lose_reply[SVC_CREATE] = 1
    job = make_job(vllm_cfg(fake))
    failed = list(job.run())[-1]
    assert isinstance(failed, ev.Failed) and failed.step == "service" and failed.kind == "network"
    assert job.state.service_sent == "create" and not job.state.service_operation
    events = list(reload_job(job.path).run())
    assert events[-1].type == "done", events[-1]
    assert fake.called(SVC_CREATE) == 1 and fake.called(SVC_PATCH) == 0
    finished = {e.step: e.detail for e in events if isinstance(e, ev.StepFinished)}
    assert finished["service"].startswith("created vllm-gemma4-e4b")
    assert [path for path, _ in fake.openai_calls] == ["v1/models", "v1/chat/completions"]


def test_a_resume_polls_the_saved_operation_and_a_redeploy_patches(fake, make_job, reload_job):
    fake.polls_to_done = 3
    job = make_job(vllm_cfg(fake))
    for event in job.run():  # the page reloads while the service operation runs
        if isinstance(event, ev.OperationProgress) and "RoutesReady" in event.detail:
            break
    op_name = job.state.service_operation
    events = list(reload_job(job.path).run())
    assert events[-1].type == "done" and fake.called(SVC_CREATE) == 1
    assert {e.name for e in events if isinstance(e, ev.OperationProgress)} == {op_name}
    again = make_job(vllm_cfg(fake, concurrency=8, num_parallel=8))
    assert list(again.run())[-1].type == "done"
    assert fake.called(SVC_CREATE) == 1 and fake.called(SVC_PATCH) == 1
    args = the_service(fake)["template"]["containers"][0]["args"]
    assert "--max-num-seqs=8" in args


def test_an_unreadable_token_fails_the_warm_up_with_a_fix(fake, make_job, monkeypatch):
    """Without the grant the server never starts: the warm-up says so instead of succeeding."""
    fake.secrets.add(f"projects/{fake.project}/secrets/{SECRET}")
    monkeypatch.setattr("deploy.job.secretmanager.grant_accessor", lambda *a, **k: [])
    job = make_job(vllm_cfg(fake, weights_bucket="", hf_token_secret=SECRET), sleep=lambda _s: None)
    failed = list(job.run())[-1]
    assert isinstance(failed, ev.Failed) and failed.step == "warm" and failed.fix
    assert "permission denied" in failed.message


def test_a_missing_secret_is_a_sentence_before_the_service(fake, make_job):
    job = make_job(vllm_cfg(fake, weights_bucket="", hf_token_secret="nope"))
    failed = list(job.run())[-1]
    assert isinstance(failed, ev.Failed) and failed.step == "secret"
    assert "does not exist" in failed.message and "gcloud secrets create nope" in failed.fix
    assert SVC_CREATE not in methods(fake)


def test_old_job_files_load_as_ollama(make_job, cfg, reload_job):
    job = make_job(cfg)
    state = json.loads(job.path.read_text())
    for key in ("engine", "weights_bucket", "weights_dir", "hf_model", "hf_token_secret",
                "gpu_memory_utilization", "vllm_image", "vllm_args"):  # fmt: skip
        state["config"].pop(key)
    job.path.write_text(json.dumps(state))
    old = reload_job(job.path).config
    assert old.engine == "ollama" and old.service_name == "ollama-gemma2-9b" and old.builds_image


def test_vllm_fit_counts_bf16_weights():
    """vLLM loads 2 bytes a parameter: gemma3:12b fits an L4 on Ollama (8.1 GB file) but not on
    vLLM (12.2 B params = 22.7 GiB), whose share of the GPU is --gpu-memory-utilization."""
    ollama = fit.estimate("gemma3:12b", "nvidia-l4", 4, 8192)
    vllm_est = fit.estimate("gemma3:12b", "nvidia-l4", 4, 8192, "", engine="vllm")
    assert ollama.fits and not vllm_est.fits
    assert vllm_est.weights_gib == pytest.approx(12.19e9 * 2 / 2**30)
    assert vllm_est.gpu_gib == pytest.approx(22.5 * 0.90)
    assert "bf16 weights" in vllm_est.summary() and "0.9 share" in vllm_est.summary()
    assert fit.estimate("gemma4:e4b", "nvidia-l4", 4, 8192, "", engine="vllm").fits
    derived = fit.estimate("gemma3:4b-it-qat", "nvidia-l4", 1, 8192, "", engine="vllm")
    assert derived.weights_derived and derived.weights_gib == pytest.approx(4.0e9 * 8 / 5.0 * 2 / 2**30)
    fixes = fit.fixes(vllm_est)
    assert any("--max-num-seqs" in f for f in fixes) or any("smaller model: gemma3:4b" in f for f in fixes)
    assert any("bigger GPU: nvidia-rtx-pro-6000" in f for f in fixes)


def test_cli_refuses_a_vllm_model_that_does_not_fit_before_any_request(fake, sa_file, tmp_path):
    state_dir = tmp_path / "jobs"
    args = ["--project", fake.project, "--region", "us-central1", "--engine", "vllm", "--model", "gemma4:26b",
            "--weights-bucket", "workshop-weights", "--state-dir", str(state_dir)]  # fmt: skip
    result = cli(fake, sa_file, "deploy", *args)
    assert result.returncode == 2, result.stdout + result.stderr
    assert "Will not fit: gemma4:26b on nvidia-l4" in result.stderr and "bf16 weights" in result.stderr
    assert "fix: Nearest fixes:" in result.stderr and "a smaller model: gemma4:e4b" in result.stderr
    assert "Traceback" not in result.stderr
    assert fake.calls == [] and fake.token_requests == 0 and not state_dir.exists()


def test_the_deploy_page_deploys_vllm_and_uses_it(monkeypatch, fake, sa_file, tmp_path):
    """AppTest: pick vLLM, see the bf16 fit and the plan, Deploy, then "Use this service" sets
    cloudrun:URL, which detects the OpenAI API (no embeddings: vLLM serves the chat model only)."""
    env = {"GOOGLE_APPLICATION_CREDENTIALS": str(sa_file), "DEPLOY_API_BASE": fake.base_url,
           "DEPLOY_STATE_DIR": str(tmp_path / "jobs"), "DEPLOY_POLL_SECONDS": "0"}  # fmt: skip
    for var, value in env.items():
        monkeypatch.setenv(var, value)
    for var in ("K_SERVICE", "WORKSHOP_HOSTED"):
        monkeypatch.delenv(var, raising=False)
    fake.denied = set()
    at = AppTest.from_file(str(REPO_ROOT / "streamlit_app.py"), default_timeout=120)
    at.run()
    at.switch_page("pages/deploy.py").run()
    at.radio(key="d_engine").set_value("vllm").run()
    at.text_input(key="d_project").set_value(fake.project).run()
    assert not at.exception, [e.value for e in at.exception]
    assert any("gated" in w.value for w in at.warning)
    assert "deploy" not in [b.key for b in at.button]  # nothing to deploy until the weights are known
    at.selectbox(key="d_model_pick").set_value("gemma4:26b").run()
    at.text_input(key="d_vllm_bucket").set_value("gs://workshop-weights").run()
    assert any("will not fit" in e.value and "a smaller model" in e.value for e in at.error)
    at.selectbox(key="d_model_pick").set_value("gemma4:e4b").run()
    code = "\n".join(c.value for c in at.code)
    assert "--add-volume=name=weights,type=cloud-storage,bucket=workshop-weights" in code and not at.error
    at.button(key="preflight").click().run()  # the vLLM deploy's APIs and roles: no build's
    checked = "\n".join(m.value for m in at.markdown)
    assert "**model**: Fits: gemma4:e4b on nvidia-l4" in checked and "bf16" in checked
    (apis,) = [line for line in checked.splitlines() if "**apis**" in line]
    assert "run.googleapis.com" in apis and "cloudbuild" not in apis
    at.button(key="deploy").click().run()
    assert not at.exception, [e.value for e in at.exception]
    job = DeployJob.latest(tmp_path / "jobs")
    assert job.status == "succeeded" and job.config.engine == "vllm", job.state.error
    assert fake.called(SVC_CREATE) == 1 and not any(m.startswith("cloudbuild.") for m, _ in fake.calls)
    assert any("/v1/chat/completions" in c.value for c in at.code)  # the snippets speak OpenAI
    before = at.session_state["settings"].embeddings
    at.button(key="use_service").click().run()
    settings = at.session_state["settings"]
    assert settings.llm == f"cloudrun:{job.url}" and settings.model == "gemma4:e4b"
    assert settings.embeddings == before  # no embedder on a vLLM service
    assert make_target(settings.llm, settings).api() == "openai"
