"""Real google-auth flows against a local token endpoint and metadata server.

The Cloud Run target is exercised end to end: the fake Ollama in front of it
checks every request's ID token the way Cloud Run does (signature, audience,
expiry), so a stale or missing token fails exactly as it would in production.
"""

import logging

import pytest

from rag.auth import IdTokenAuth, IdTokenSource
from rag.errors import AuthError
from rag.llms.base import Delta, Finish
from rag.llms.ollama import CloudRunTarget
from tests.servers.ollama import FakeOllama, OllamaState


class Clock:
    def __init__(self) -> None:
        import time

        self.now = time.time()

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def adc_env(monkeypatch, tmp_path):
    """No credentials anywhere unless a test puts them there."""
    monkeypatch.delenv("GOOGLE_APPLICATION_CREDENTIALS", raising=False)
    monkeypatch.setenv("CLOUDSDK_CONFIG", str(tmp_path / "gcloud"))
    monkeypatch.setenv("GCE_METADATA_IP", "127.0.0.1:9")  # nothing listens: no metadata server
    monkeypatch.setenv("GCE_METADATA_TIMEOUT", "1")
    monkeypatch.setenv("GCE_METADATA_DETECT_RETRIES", "1")
    return tmp_path


def cloud_run(google_auth, clock):
    """A fake Cloud Run + Ollama that accepts only valid ID tokens for its own URL."""
    state = OllamaState()
    server = FakeOllama(state)
    state.accept_token = lambda token: google_auth.state.valid(token, server.url)
    return server


def bearer(request):
    return request.headers["Authorization"].removeprefix("Bearer ")


def test_service_account_key_file_gives_id_tokens_for_the_service_url(adc_env, google_auth, monkeypatch):
    clock = Clock()
    google_auth.state.clock = clock
    monkeypatch.setenv("GOOGLE_APPLICATION_CREDENTIALS", str(google_auth.service_account_file(adc_env)))
    with cloud_run(google_auth, clock) as service:
        target = CloudRunTarget(service.url, source=IdTokenSource(service.url, clock=clock))
        items = list(target.stream([("human", "hi")], "gemma2:9b"))
        assert "".join(i.text for i in items if isinstance(i, Delta)) == "Cloud Run runs containers."
        assert isinstance(items[-1], Finish) and items[-1].output_tokens == 4
        assert target.check("gemma2:9b").ok
        tokens = {bearer(r) for r in service.state.requests}
        assert len(tokens) == 1 and all(google_auth.state.valid(t, service.url) for t in tokens)
    assert google_auth.state.grants == ["urn:ietf:params:oauth:grant-type:jwt-bearer"]  # fetched once, reused


def test_tokens_are_refreshed_before_they_expire(adc_env, google_auth, monkeypatch):
    clock = Clock()
    google_auth.state.clock = clock
    monkeypatch.setenv("GOOGLE_APPLICATION_CREDENTIALS", str(google_auth.service_account_file(adc_env)))
    with cloud_run(google_auth, clock) as service:
        source = IdTokenSource(service.url, clock=clock, margin=300)
        target = CloudRunTarget(service.url, source=source)
        list(target.stream([("human", "one")]))
        clock.now += 3600 - 299  # inside the refresh margin, still valid at the server
        list(target.stream([("human", "two")]))
        clock.now += 10
        list(target.stream([("human", "three")]))
        first, second, third = (bearer(r) for r in service.state.requests)
        assert first != second == third
        assert source.refreshes == 2
        assert all(r.headers["Authorization"].startswith("Bearer ey") for r in service.state.requests)


def test_a_401_triggers_one_refresh_and_one_retry(adc_env, google_auth, monkeypatch):
    clock = Clock()
    google_auth.state.clock = clock
    monkeypatch.setenv("GOOGLE_APPLICATION_CREDENTIALS", str(google_auth.service_account_file(adc_env)))
    with cloud_run(google_auth, clock) as service:
        source = IdTokenSource(service.url, clock=clock, margin=0)
        target = CloudRunTarget(service.url, source=source)
        list(target.stream([("human", "warm up")]))
        # The server's clock runs ahead: our cached token is expired there, but not by our clock.
        google_auth.state.clock = lambda: clock.now + 7200
        google_auth.state.lifetime = 3 * 3600
        text = "".join(i.text for i in target.stream([("human", "again")]) if isinstance(i, Delta))
        assert text == "Cloud Run runs containers."
        statuses = [bearer(r) for r in service.state.requests[1:]]
        assert len(statuses) == 2 and statuses[0] != statuses[1]  # rejected token, then a fresh one
        assert source.refreshes == 2


def test_a_token_the_service_keeps_refusing_is_an_auth_error_with_a_fix(adc_env, google_auth, monkeypatch):
    monkeypatch.setenv("GOOGLE_APPLICATION_CREDENTIALS", str(google_auth.service_account_file(adc_env)))
    with FakeOllama(OllamaState(accept_token=lambda token: False)) as service:
        target = CloudRunTarget(service.url)
        with pytest.raises(AuthError) as caught:
            list(target.stream([("human", "hi")]))
        assert "401" in caught.value.message and "roles/run.invoker" in caught.value.fix
        assert len(service.state.requests) == 2  # one retry, not a loop


def test_metadata_server_flow(adc_env, google_auth, monkeypatch):
    from google.auth.compute_engine import _metadata

    host = google_auth.url.removeprefix("http://")
    monkeypatch.setenv("GCE_METADATA_IP", host)
    monkeypatch.setattr(_metadata, "_GCE_METADATA_HOST", host)
    with cloud_run(google_auth, Clock()) as service:
        target = CloudRunTarget(service.url)
        assert target.check("gemma2:9b").ok
        assert google_auth.state.metadata_requests == 1
        assert google_auth.state.valid(bearer(service.state.requests[-1]), service.url)


def test_gcloud_user_credentials_fallback(adc_env, google_auth, monkeypatch):
    """`gcloud auth application-default login` users get the ID token from each refresh."""
    import google.oauth2.credentials

    # google-auth always sends user credentials to Google's endpoint; point that at ours.
    monkeypatch.setattr(google.oauth2.credentials, "_GOOGLE_OAUTH2_TOKEN_ENDPOINT", google_auth.token_uri)
    (adc_env / "gcloud").mkdir()
    google_auth.user_file(adc_env / "gcloud")
    source = IdTokenSource("https://svc-123.run.app")
    token = source.token()
    assert google_auth.state.grants == ["refresh_token"]
    assert token in google_auth.state.issued


def test_no_credentials_says_how_to_get_them(adc_env):
    with pytest.raises(AuthError) as caught:
        IdTokenSource("https://svc.run.app").token()
    assert "gcloud auth application-default login" in caught.value.fix


def test_revoked_credentials_are_an_auth_error(adc_env, google_auth, monkeypatch):
    monkeypatch.setenv("GOOGLE_APPLICATION_CREDENTIALS", str(google_auth.service_account_file(adc_env)))
    google_auth.state.fail_next = 1
    with pytest.raises(AuthError) as caught:
        IdTokenSource("https://svc.run.app").token()
    assert "ID token failed" in caught.value.message


def test_tokens_never_appear_in_logs_or_reprs(adc_env, google_auth, monkeypatch, caplog):
    monkeypatch.setenv("GOOGLE_APPLICATION_CREDENTIALS", str(google_auth.service_account_file(adc_env)))
    caplog.set_level(logging.DEBUG)
    with cloud_run(google_auth, Clock()) as service:
        target = CloudRunTarget(service.url)
        list(target.stream([("human", "hi")]))
        token = bearer(service.state.requests[-1])
        assert token not in caplog.text
        assert token not in repr(target.auth) and token not in repr(target.source)
        assert isinstance(target.auth, IdTokenAuth)
