"""The test call, as shown (curl, Python) and as run from the page."""

from __future__ import annotations

import contextlib
import io
import os
import shutil
import socket
import subprocess
import threading
from collections.abc import Iterator

import pytest

from deploy import snippets
from rag.errors import AuthError, TargetUnreachable


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


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_a_refused_connection_is_a_sentence_naming_the_service_and_what_to_check(fake, credentials):
    url = f"http://127.0.0.1:{_free_port()}"  # nothing listens there
    with pytest.raises(TargetUnreachable) as info:
        snippets.run_test_call(url, "gemma2:9b", credentials=credentials)
    assert info.value.message == f"Cannot reach the Cloud Run service {url}."
    assert "gcloud run services describe" in info.value.fix


@contextlib.contextmanager
def _hostile(behaviour: str) -> Iterator[str]:
    """A server that accepts connections, then hangs up at once or never answers."""
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen()
        stop = threading.Event()

        def serve() -> None:
            server.settimeout(0.1)
            held = []
            while not stop.is_set():
                try:
                    conn, _ = server.accept()
                except TimeoutError:
                    continue
                if behaviour == "hang up":
                    conn.recv(65536)
                    conn.close()
                else:
                    held.append(conn)
            for conn in held:
                conn.close()

        thread = threading.Thread(target=serve, daemon=True)
        thread.start()
        try:
            yield f"http://127.0.0.1:{server.getsockname()[1]}"
        finally:
            stop.set()
            thread.join()


def test_a_server_that_hangs_up_or_stays_silent_is_a_sentence(fake, credentials):
    with _hostile("hang up") as url, pytest.raises(TargetUnreachable) as hung_up:
        snippets.run_test_call(url, "gemma2:9b", credentials=credentials)
    assert hung_up.value.message == f"Cannot reach the Cloud Run service {url}." and hung_up.value.fix
    with _hostile("silent") as url, pytest.raises(TargetUnreachable) as silent:
        snippets.run_test_call(url, "gemma2:9b", credentials=credentials, timeout=0.3)
    assert silent.value.message == f"The Cloud Run service {url} did not answer in time."


def test_no_id_token_for_the_test_call_is_a_sentence(fake, credentials):
    fake.sa_public_pem = fake.server_public_pem  # the token endpoint no longer trusts the key
    with pytest.raises(AuthError) as info:
        snippets.run_test_call("http://127.0.0.1:9", "gemma2:9b", credentials=credentials)
    assert info.value.message.startswith("Getting an ID token failed") and info.value.fix
