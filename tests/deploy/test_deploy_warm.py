"""The warm-up call's failures, each a sentence and a fix."""

from __future__ import annotations

import socket

import pytest

from deploy import events as ev
from deploy import snippets, warm
from deploy.errors import DeployError
from rag.errors import AuthError

LOGS = "https://console.cloud.google.com/run/detail/r/s/logs?project=p"


def _load(url: str, credentials, **kwargs):
    sleeps: list[float] = []
    gen = warm.load_model(
        url, "gemma2:9b", timeout_s=5, logs_url=LOGS, credentials=credentials, sleep=sleeps.append, **kwargs
    )
    events = []
    try:
        while True:
            events.append(next(gen))
    except StopIteration as stop:
        return stop.value, events, sleeps


@pytest.fixture
def deployed(fake, make_job, cfg):
    job = make_job(cfg)
    assert list(job.run())[-1].type == "done"
    return job


def test_a_caller_without_run_invoker_is_told_how_to_grant_it(deployed, credentials, fake):
    fake.policies.clear()  # nobody may invoke it any more
    with pytest.raises(DeployError) as info:
        _load(deployed.url, credentials, waits=(0, 0))
    assert "refused the warm-up call (HTTP 403" in info.value.message
    assert "roles/run.invoker" in info.value.fix
    assert len(fake.generate_calls) == 1  # only the deploy's own warm-up got through


def test_retries_are_bounded_and_reported(deployed, credentials, fake):
    fake.service_busy_calls = 2
    seconds, events, sleeps = _load(deployed.url, credentials, waits=(1, 2, 3))
    assert seconds >= 0 and sleeps == [1, 2]
    assert all(isinstance(e, ev.Notice) and "retrying" in e.message for e in events)


def test_no_id_token_is_a_sentence(monkeypatch, credentials):
    def refuse(audience, credentials=None):
        raise AuthError("These credentials give no ID token.", "Log in again.")

    monkeypatch.setattr(snippets, "id_token_for", refuse)
    with pytest.raises(DeployError) as info:
        _load("https://svc.example", credentials)
    assert info.value.message.startswith("Could not get an ID token to call the service")
    assert info.value.fix == "Log in again."


def test_an_unreachable_service_is_retried_then_reported(credentials):
    with pytest.raises(DeployError) as info:
        _load("http://127.0.0.1:9", credentials, waits=(0,))
    assert "could not be reached" in info.value.message and "press Deploy again" in info.value.fix


def test_a_model_that_loads_too_slowly_times_out(credentials):
    with socket.socket() as silent:  # accepts the connection, never answers
        silent.bind(("127.0.0.1", 0))
        silent.listen()
        url = f"http://127.0.0.1:{silent.getsockname()[1]}"
        with pytest.raises(DeployError) as info:
            next(
                warm.load_model(
                    url,
                    "gemma2:9b",
                    timeout_s=0.3,
                    logs_url=LOGS,
                    credentials=credentials,
                    sleep=lambda _s: None,
                )
            )
    assert "did not load within 0.3 s" in info.value.message and LOGS in info.value.fix
