"""The container files: pinned bases, ports, non-root UI, a clean and correct start script."""

from __future__ import annotations

import base64
import json
import os
import re
import shutil
import signal
import subprocess
import time
from pathlib import Path

import pytest

from deploy import catalog, cloudbuild
from deploy.config import CONTAINER_DIR, REPO_ROOT, DeployConfig

OLLAMA_DOCKERFILE = CONTAINER_DIR / "Dockerfile"
UI_DOCKERFILE = REPO_ROOT / "Dockerfile"
START = CONTAINER_DIR / "start.sh"


def instructions(path: Path) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) with continuation lines joined and comments dropped."""
    text = re.sub(r"\\\n", " ", path.read_text())
    out = []
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            word, _, rest = line.partition(" ")
            out.append((word.upper(), rest.strip()))
    return out


def values(path: Path, word: str) -> list[str]:
    return [rest for w, rest in instructions(path) if w == word]


def env_of(path: Path) -> dict[str, str]:
    env = {}
    for rest in values(path, "ENV"):
        env.update(re.findall(r"(\w+)=(\S+)", rest))
    return env


@pytest.mark.parametrize("path", [OLLAMA_DOCKERFILE, UI_DOCKERFILE])
def test_base_images_are_pinned(path):
    bases = [rest.split()[0] for rest in values(path, "FROM")]
    assert bases
    for base in bases:
        tag = base.partition(":")[2]
        assert "@sha256:" in base or re.fullmatch(r"\d+\.\d+\.\d+[\w.-]*", tag), base
        assert tag != "latest"


def test_ollama_image_settings():
    env = env_of(OLLAMA_DOCKERFILE)
    assert env["OLLAMA_HOST"] == "0.0.0.0:8080"
    assert env["OLLAMA_KEEP_ALIVE"] == "-1"
    assert env["OLLAMA_MODELS"] == "/models"
    assert env["OLLAMA_NUM_PARALLEL"] == "${OLLAMA_NUM_PARALLEL}"
    assert env["OLLAMA_CONTEXT_LENGTH"] == "${OLLAMA_CONTEXT_LENGTH}"
    args = dict(a.split("=", 1) for a in values(OLLAMA_DOCKERFILE, "ARG"))
    assert args["MODEL"] == catalog.DEFAULT_MODEL  # the fit check's choice, built by default
    assert args["EMBED_MODEL"] == catalog.EMBED_MODEL == "embeddinggemma"  # on by default
    assert args["OLLAMA_NUM_PARALLEL"] == str(catalog.DEFAULT_CONCURRENCY)
    assert args["OLLAMA_CONTEXT_LENGTH"] == str(catalog.DEFAULT_CONTEXT)
    assert values(OLLAMA_DOCKERFILE, "FROM") == [f"ollama/ollama:{catalog.ollama_version()}"]
    assert values(OLLAMA_DOCKERFILE, "EXPOSE") == ["8080"]
    assert json.loads(values(OLLAMA_DOCKERFILE, "ENTRYPOINT")[0]) == ["/usr/local/bin/start-ollama"]
    assert any("start-ollama pull" in r for r in values(OLLAMA_DOCKERFILE, "RUN"))


def test_ui_image_is_non_root_headless_cpu_only():
    users = values(UI_DOCKERFILE, "USER")
    assert users and users[-1] not in ("root", "0") and users[-1].split(":")[0] != "0"
    words = [w for w, _ in instructions(UI_DOCKERFILE)]
    assert words.index("USER") > max(i for i, w in enumerate(words) if w == "COPY")
    assert values(UI_DOCKERFILE, "EXPOSE") == ["8080"]
    assert "/_stcore/health" in values(UI_DOCKERFILE, "HEALTHCHECK")[0]
    cmd = json.loads(values(UI_DOCKERFILE, "CMD")[0])[-1]
    assert "streamlit run streamlit_app.py" in cmd and "--server.headless=true" in cmd
    assert "--server.port=${PORT}" in cmd and env_of(UI_DOCKERFILE)["PORT"] == "8080"
    runs = " ".join(values(UI_DOCKERFILE, "RUN"))
    assert "https://download.pytorch.org/whl/cpu" in runs and "-r /tmp/requirements.txt" in runs
    ignored = (REPO_ROOT / ".dockerignore").read_text().split()
    assert {".venv", ".git", ".streamlit/secrets.toml"} <= set(ignored)
    assert "ollama_container" not in ignored  # the hosted Deploy page builds from it


def test_build_definition_matches_the_notebook_and_substitutions_line_up():
    definition = cloudbuild.build_definition()
    assert definition["options"]["machineType"] == catalog.BUILD_MACHINE == "E2_HIGHCPU_32"
    cfg = DeployConfig("workshop-proj", "us-central1")
    body = cloudbuild.build_body(cfg)
    used = set(re.findall(r"\$\{(_[A-Z_]+)\}", json.dumps(body["steps"] + body["images"])))
    assert used == set(body["substitutions"])  # Cloud Build rejects unused substitutions
    assert body["substitutions"]["_MODEL"] == catalog.DEFAULT_MODEL
    assert body["substitutions"]["_NUM_PARALLEL"] == "4"
    assert body["substitutions"]["_EMBED_MODEL"] == "embeddinggemma"
    assert body["substitutions"]["_CONTEXT_LENGTH"] == "8192"
    assert definition["substitutions"]["_MODEL"] == catalog.DEFAULT_MODEL  # gcloud builds submit
    assert "$" not in json.dumps(body["steps"][0])  # nothing for Cloud Build to substitute


def test_write_context_step_recreates_the_build_context(tmp_path):
    step = cloudbuild.build_body(DeployConfig("workshop-proj", "us-central1"))["steps"][0]
    assert step["entrypoint"] == "bash" and step["args"][0] == "-c"
    subprocess.run(["bash", "-c", step["args"][1]], cwd=tmp_path, check=True, timeout=30)
    for name in cloudbuild.CONTEXT_FILES:
        assert (tmp_path / name).read_bytes() == (CONTAINER_DIR / name).read_bytes()
    assert os.access(tmp_path / "start.sh", os.X_OK)
    copied = [rest.split()[0] for rest in values(OLLAMA_DOCKERFILE, "COPY")]
    assert set(copied) <= set(cloudbuild.CONTEXT_FILES)  # the Dockerfile needs nothing else
    assert base64  # (the step carries the files base64-encoded)


def _shellcheck(scripts: list[Path]) -> subprocess.CompletedProcess:
    shellcheck = shutil.which("shellcheck")
    if shellcheck is None:
        pytest.skip("shellcheck is not installed (apt-get install shellcheck)")
    return subprocess.run(
        [shellcheck, "--severity=style", *map(str, scripts)], capture_output=True, text=True, timeout=60
    )


def test_shell_scripts_are_shellcheck_clean():
    scripts = sorted(CONTAINER_DIR.glob("*.sh"))
    assert START in scripts
    result = _shellcheck(scripts)
    assert result.returncode == 0, result.stdout


def test_the_repositorys_own_scripts_are_shellcheck_clean():
    # setup.sh, CI's entry point and the benchmark runner: a comment that reads as a
    # shellcheck directive ("# shellcheck for scripts") stops shellcheck checking a file
    root = Path(__file__).resolve().parents[2]
    result = _shellcheck([root / "setup.sh", root / ".ci" / "run", root / "bench" / "run_all.sh"])
    assert result.returncode == 0, result.stdout


# start.sh against a stand-in `ollama` binary ---------------------------------------

STUB = r"""#!/usr/bin/env bash
echo "$*" >> "$STUB_LOG"
case "$1" in
  serve)
    [[ -n "${STUB_SERVE_EXIT:-}" ]] && exit "$STUB_SERVE_EXIT"
    echo $$ > "$STUB_DIR/serve.pid"
    trap 'echo stopped >> "$STUB_LOG"; exit 0' TERM
    while true; do sleep 0.05; done ;;
  list) kill -0 "$(cat "$STUB_DIR/serve.pid" 2>/dev/null)" 2>/dev/null ;;
  run) exit "${STUB_RUN_EXIT:-0}" ;;
  pull)
    tag=latest; [[ "$2" == *:* ]] && tag="${2##*:}"
    mkdir -p "$OLLAMA_MODELS/manifests/registry.ollama.ai/library/${2%%:*}"
    touch "$OLLAMA_MODELS/manifests/registry.ollama.ai/library/${2%%:*}/$tag" ;;
esac
"""


@pytest.fixture
def stub(tmp_path):
    path = tmp_path / "ollama"
    path.write_text(STUB)
    path.chmod(0o755)
    env = {
        "PATH": os.environ["PATH"],
        "HOME": str(tmp_path),
        "OLLAMA_BIN": str(path),
        "STUB_LOG": str(tmp_path / "calls.log"),
        "STUB_DIR": str(tmp_path),
        "OLLAMA_MODELS": str(tmp_path / "models"),
        "OLLAMA_HOST": "0.0.0.0:8080",
        "MODEL": "gemma2:9b",
        "READY_TIMEOUT": "5",
    }
    (tmp_path / "calls.log").touch()
    return env


def _calls(env) -> list[str]:
    return Path(env["STUB_LOG"]).read_text().splitlines()


def _bake(env, model_path: str) -> None:
    manifest = Path(env["OLLAMA_MODELS"]) / "manifests" / model_path
    manifest.parent.mkdir(parents=True)
    manifest.touch()


def test_missing_model_fails_loudly_before_listening(stub):
    result = subprocess.run([str(START)], env=stub, capture_output=True, text=True, timeout=30)
    assert result.returncode == 1
    assert "FATAL: model 'gemma2:9b' is not in this image" in result.stderr
    assert "registry.ollama.ai/library/gemma2/9b" in result.stderr
    assert _calls(stub) == []  # never started a server


@pytest.mark.parametrize(
    ("model", "path"),
    [
        ("gemma3", "registry.ollama.ai/library/gemma3/latest"),
        ("someone/tuned:q4", "registry.ollama.ai/someone/tuned/q4"),
        ("hf.co/org/repo:Q4_K_M", "hf.co/org/repo/Q4_K_M"),
    ],
)
def test_manifest_locations_follow_ollama(stub, model, path):
    result = subprocess.run(
        [str(START)], env={**stub, "MODEL": model}, capture_output=True, text=True, timeout=30
    )
    assert result.returncode == 1 and f"manifests/{path}" in result.stderr


def test_listens_first_then_warms_up_then_serves_until_stopped(stub):
    _bake(stub, "registry.ollama.ai/library/gemma2/9b")
    proc = subprocess.Popen([str(START)], env=stub, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 20
    while not any(c.startswith("run ") for c in _calls(stub)):
        assert time.monotonic() < deadline and proc.poll() is None, _calls(stub)
        time.sleep(0.05)
    calls = _calls(stub)  # the warm-up comes after the server answered
    assert calls.index("serve") < calls.index("run gemma2:9b ")
    assert calls.index("list") < calls.index("run gemma2:9b ")
    time.sleep(0.2)
    assert proc.poll() is None  # still serving after the warm-up
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=10) == 0
    assert _calls(stub)[-1] == "stopped"
    assert "gemma2:9b is loaded; serving on 0.0.0.0:8080" in proc.stderr.read()


def test_failed_warm_up_or_dead_server_exits_non_zero(stub):
    _bake(stub, "registry.ollama.ai/library/gemma2/9b")
    result = subprocess.run(
        [str(START)], env={**stub, "STUB_RUN_EXIT": "1"}, capture_output=True, text=True, timeout=30
    )
    assert result.returncode == 1 and "FATAL: could not load gemma2:9b" in result.stderr
    result = subprocess.run(
        [str(START)], env={**stub, "STUB_SERVE_EXIT": "3"}, capture_output=True, text=True, timeout=30
    )
    assert result.returncode == 1 and "exited during start-up" in result.stderr


def test_pull_mode_bakes_the_model_with_a_private_server(stub):
    env = {**stub, "MODEL": "gemma3:4b"}
    result = subprocess.run([str(START), "pull"], env=env, capture_output=True, text=True, timeout=30)
    assert result.returncode == 0, result.stderr
    assert {"serve", "pull gemma3:4b"} <= set(_calls(stub))
    assert _calls(stub)[-1] == "stopped"
    assert (Path(stub["OLLAMA_MODELS"]) / "manifests/registry.ollama.ai/library/gemma3/4b").exists()


def test_pull_mode_bakes_the_embedding_model_next_to_the_chat_model(stub):
    env = {**stub, "MODEL": "gemma4:e4b", "EMBED_MODEL": "embeddinggemma"}
    result = subprocess.run([str(START), "pull"], env=env, capture_output=True, text=True, timeout=30)
    assert result.returncode == 0, result.stderr
    pulls = [c for c in _calls(stub) if c.startswith("pull ")]
    assert pulls == ["pull gemma4:e4b", "pull embeddinggemma"]
    manifests = Path(stub["OLLAMA_MODELS"]) / "manifests/registry.ollama.ai/library"
    assert (manifests / "gemma4/e4b").exists() and (manifests / "embeddinggemma/latest").exists()
    assert "baked embeddinggemma" in result.stderr


def test_a_missing_embedding_model_fails_loudly_before_listening(stub):
    _bake(stub, "registry.ollama.ai/library/gemma2/9b")
    env = {**stub, "EMBED_MODEL": "embeddinggemma"}
    result = subprocess.run([str(START)], env=env, capture_output=True, text=True, timeout=30)
    assert result.returncode == 1
    assert "FATAL: model 'embeddinggemma' is not in this image" in result.stderr
    assert "--build-arg EMBED_MODEL=embeddinggemma" in result.stderr
    assert _calls(stub) == []
