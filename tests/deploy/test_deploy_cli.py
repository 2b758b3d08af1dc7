"""`python -m deploy` keeps the repository's CLI convention, run as a real process:
0 done; 1 an error (its sentence and fix); 2 bad arguments; 130 Ctrl-C, one line, no traceback."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

from deploy.config import REPO_ROOT
from tests.servers.ollama import FakeOllama, OllamaState

SVC_CREATE = "run.projects.locations.services.create"


def run_deploy(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "deploy", *args],
        cwd=REPO_ROOT,
        env=env or dict(os.environ),
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_bad_arguments_exit_2():
    missing = run_deploy("plan", "--region", "us-central1")  # argparse: --project is required
    assert missing.returncode == 2 and "--project" in missing.stderr
    bad = run_deploy("plan", "--project", "p", "--region", "us-central1", "--concurrency", "0")
    assert bad.returncode == 2 and "error:" in bad.stderr and "fix:" in bad.stderr
    assert "Traceback" not in bad.stderr


def test_an_error_exits_1_with_its_sentence_and_fix(tmp_path: Path):
    empty = tmp_path / "jobs"
    empty.mkdir()
    result = run_deploy("resume", "--state-dir", str(empty))
    assert result.returncode == 1
    assert f"error: No deploy state in {empty}." in result.stderr
    assert "fix: Run `deploy` first." in result.stderr
    assert "Traceback" not in result.stderr


def test_help_exits_0_and_names_the_exit_statuses():
    result = run_deploy("--help")
    assert result.returncode == 0 and "130 for Ctrl-C" in result.stdout


def test_ctrl_c_during_a_deploy_exits_130_with_one_line(fake, sa_file, tmp_path: Path):
    """SIGINT while the service create is in flight: one line saying how to carry on."""
    received = fake.hold_reply[SVC_CREATE] = threading.Event()
    env = {
        **os.environ,
        "GOOGLE_APPLICATION_CREDENTIALS": str(sa_file),
        "DEPLOY_API_BASE": fake.base_url,
        "DEPLOY_POLL_SECONDS": "0",
        "NO_PROXY": "127.0.0.1",
    }
    args = ["deploy", "--project", fake.project, "--region", "us-central1"]
    proc = subprocess.Popen(
        [sys.executable, "-m", "deploy", *args, "--state-dir", str(tmp_path / "s")],
        cwd=REPO_ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 120
        while not received.wait(0.2):  # the build comes first; a failure ends the process
            assert proc.poll() is None, proc.communicate()
            assert time.monotonic() < deadline, "the create never arrived"
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=60)
    finally:
        fake.release()
        if proc.poll() is None:
            proc.kill()
            proc.wait(30)
    assert proc.returncode == 130, err
    assert err.strip().splitlines() == [
        "stopped; anything already sent keeps running: `python -m deploy resume` follows it."
    ]
    assert "[step_started] step=service" in out


def test_ctrl_c_during_a_tune_prints_what_was_measured_and_exits_130():
    """SIGINT mid-sweep (a real Ollama-speaking server, slow answers): the table, then one line."""
    state = OllamaState(answer=lambda _messages: " ".join(f"w{i}" for i in range(200)), token_delay=0.05)
    with FakeOllama(state) as server:
        proc = subprocess.Popen(
            [sys.executable, "-m", "deploy", "tune", server.url, "--levels", "1", "--requests", "4"],
            cwd=REPO_ROOT,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        try:
            deadline = time.monotonic() + 60
            while not any(r.path == "/api/chat" for r in state.requests):  # the sweep is under way
                assert proc.poll() is None, proc.communicate()
                assert time.monotonic() < deadline, "no chat arrived"
                time.sleep(0.1)
            time.sleep(0.5)
            proc.send_signal(signal.SIGINT)
            out, err = proc.communicate(timeout=60)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait(30)
    assert proc.returncode == 130, err
    assert "cancelled" in out and "level  ok/req" in out
    assert err.strip().splitlines()[-1] == "stopped; the report covers what was measured before Ctrl-C."
    assert "Traceback" not in err
