"""The test call, as shown (curl, Python) and as run from the page."""

from __future__ import annotations

import contextlib
import io
import os
import shutil
import subprocess

import pytest

from deploy import snippets


@pytest.fixture
def deployed(fake, make_job, cfg):
    job = make_job(cfg)
    assert list(job.run())[-1].type == "done"
    return job


def test_python_snippet_runs_as_printed(deployed, sa_file, monkeypatch, fake):
    code = snippets.python_snippet(deployed.url, "gemma2:9b")
    assert "fetch_id_token" in code and "/api/generate" in code
    monkeypatch.setenv("GOOGLE_APPLICATION_CREDENTIALS", str(sa_file))
    before = fake.id_token_requests  # the deploy's warm-up call got one too
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        exec(compile(code, "snippet", "exec"), {})
    assert "blue light" in out.getvalue()
    assert fake.id_token_requests == before + 1  # the ID token came from the token endpoint
    assert fake.generate_calls[-1]["model"] == "gemma2:9b"


@pytest.mark.skipif(shutil.which("curl") is None, reason="curl is not installed")
def test_curl_snippet_runs_with_a_token(deployed, credentials):
    text = snippets.curl_snippet(deployed.url, "gemma2:9b")
    first, rest = text.split("\n", 1)
    assert first == 'TOKEN="$(gcloud auth print-identity-token)"'
    token = snippets.id_token_for(deployed.url, credentials)
    env = {**os.environ, "TOKEN": token}
    out = subprocess.run(
        ["bash", "-c", rest], env=env, capture_output=True, text=True, timeout=30, check=True
    )
    assert '"response": "Because air scatters blue light' in out.stdout


def test_run_test_call_and_its_failures(deployed, credentials, fake):
    ok = snippets.run_test_call(deployed.url, "gemma2:9b", credentials=credentials)
    assert ok.status == 200 and ok.text.startswith("Because") and ok.seconds >= 0
    wrong_model = snippets.run_test_call(deployed.url, "llama3", credentials=credentials)
    assert wrong_model.status == 404 and "not found" in wrong_model.text
    fake.policies.clear()  # nobody may invoke it any more
    denied = snippets.run_test_call(deployed.url, "gemma2:9b", credentials=credentials)
    assert denied.status == 403


def test_a_token_for_another_audience_is_rejected(deployed, credentials, fake):
    import requests

    token = snippets.id_token_for("https://other.example", credentials)
    resp = requests.post(
        f"{deployed.url}/api/generate",
        json={"model": "gemma2:9b"},
        headers={"Authorization": f"Bearer {token}"},
        timeout=10,
    )
    assert resp.status_code == 401
