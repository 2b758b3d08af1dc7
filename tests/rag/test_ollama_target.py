"""The Ollama target (ChatOllama from langchain-ollama) against a server speaking Ollama's protocol."""

import time

import pytest

from rag.embeddings.ollama import ollama_embeddings
from rag.errors import (
    AuthError,
    EmbeddingError,
    ModelError,
    ModelNotFound,
    ServiceStarting,
    TargetUnreachable,
)
from rag.llms import make_target
from rag.llms.base import Delta, Finish, GenerationOptions
from rag.settings import Settings

HI = [("human", "What is Cloud Run?")]


def stream(target, model="gemma2:9b", options=None):
    items = list(target.stream(HI, model, options))
    return "".join(i.text for i in items if isinstance(i, Delta)), items[-1]


def test_streams_tokens_and_reports_the_final_chunk(ollama):
    text, finish = stream(make_target(f"ollama:{ollama.url}"))
    assert text == "Cloud Run runs containers."
    assert isinstance(finish, Finish)
    assert finish.done_reason == "stop" and finish.output_tokens == 4 and finish.model == "gemma2:9b"
    assert finish.eval_seconds is not None and finish.eval_seconds > 0
    request = ollama.state.requests[-1]
    assert request.path == "/api/chat" and request.body["stream"] is True
    assert request.body["messages"] == [{"role": "user", "content": "What is Cloud Run?"}]


def test_generation_options_reach_the_server(ollama):
    options = GenerationOptions(max_tokens=2, temperature=0.0, repeat_penalty=1.3, stop=("\n\n",))
    text, finish = stream(make_target(f"ollama:{ollama.url}"), options=options)
    sent = ollama.state.requests[-1].body["options"]
    assert sent["num_predict"] == 2 and sent["temperature"] == 0.0 and sent["repeat_penalty"] == 1.3
    assert sent["stop"] == ["\n\n"]
    assert text == "Cloud Run" and finish.done_reason == "length"


def test_model_not_found_suggests_ollama_pull(ollama):
    with pytest.raises(ModelNotFound) as caught:
        stream(make_target(f"ollama:{ollama.url}"), model="llama3:70b")
    assert "llama3:70b" in caught.value.message and "ollama pull llama3:70b" in caught.value.fix


def test_server_down_names_the_url_and_what_to_check():
    target = make_target("ollama:http://127.0.0.1:9")
    with pytest.raises(TargetUnreachable) as caught:
        stream(target)
    assert "http://127.0.0.1:9" in caught.value.message and "ollama serve" in caught.value.fix
    status = target.check()
    assert not status.ok and "http://127.0.0.1:9" in status.message


def test_cold_start_503s_are_retried_with_backoff(ollama):
    ollama.state.unavailable = 3
    target = make_target(f"ollama:{ollama.url}")
    text, _ = stream(target)
    assert text == "Cloud Run runs containers."
    assert len(ollama.state.requests) == 4


def test_the_waits_double_honour_retry_after_and_are_capped(ollama):
    import email.utils

    import httpx

    from rag.llms.http import RetryPolicy, RetryTransport, retry_after

    waits: list[float] = []
    ollama.state.unavailable = 4
    ollama.state.retry_after = None  # no header: exponential backoff
    transport = RetryTransport(RetryPolicy(backoff=0.5, max_wait=3.0), sleep=waits.append)
    with httpx.Client(transport=transport) as client:
        assert client.get(f"{ollama.url}/api/tags").status_code == 200
    assert waits == [0.5, 1.0, 2.0, 3.0]  # doubling, then the cap
    waits.clear()
    ollama.state.unavailable, ollama.state.retry_after = 1, "7"
    with httpx.Client(transport=RetryTransport(sleep=waits.append)) as client:
        assert client.get(f"{ollama.url}/api/tags").status_code == 200
    assert waits == [7.0]  # the server's own Retry-After
    in_a_minute = email.utils.formatdate(time.time() + 60, usegmt=True)
    assert 55 < retry_after(in_a_minute) <= 60 and retry_after("soon") is None


def test_a_service_that_stays_unavailable_is_a_clear_error(ollama):
    ollama.state.unavailable = 100
    ollama.state.unavailable_status = 429
    target = make_target(f"ollama:{ollama.url}")
    target.backoff = 0.01
    with pytest.raises(ServiceStarting) as caught:
        stream(target)
    assert "429" in caught.value.message and "Wait a minute" in caught.value.fix
    assert len(ollama.state.requests) == 5  # the first try and 4 bounded retries


def test_an_error_line_mid_stream_is_a_model_error(ollama):
    ollama.state.error_after_tokens = 2
    with pytest.raises(ModelError) as caught:
        stream(make_target(f"ollama:{ollama.url}"))
    assert "unexpected EOF" in caught.value.message


def test_bearer_token_is_sent_and_a_refusal_is_an_auth_error(ollama):
    ollama.state.accept_token = lambda token: token == "s3cret"
    good = make_target(f"ollama:{ollama.url}", Settings(ollama_token="s3cret"))
    assert stream(good)[0] == "Cloud Run runs containers."
    assert ollama.state.requests[-1].headers["Authorization"] == "Bearer s3cret"
    bad = make_target(f"ollama:{ollama.url}", Settings(ollama_token="wrong"))
    with pytest.raises(AuthError) as caught:
        stream(bad)
    assert "OLLAMA_BEARER_TOKEN" in caught.value.fix
    assert "wrong" not in repr(bad.auth)


def test_check_reports_version_models_and_a_missing_model(ollama):
    target = make_target(f"ollama:{ollama.url}")
    ok = target.check("gemma2:9b")
    assert ok.ok and ok.version == "0.12.6" and "gemma2:9b" in ok.models
    missing = target.check("gemma3:27b")
    assert not missing.ok and "ollama pull gemma3:27b" in missing.fix


def test_two_requests_decode_at_the_same_time(ollama):
    import threading

    ollama.state.token_delay = 0.05
    target = make_target(f"ollama:{ollama.url}")
    threads = [threading.Thread(target=stream, args=(target,)) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert ollama.state.max_active == 2


def test_ollama_embeddings_use_api_embed(ollama):
    settings = Settings(embeddings="ollama", ollama_url=ollama.url)
    embedder = ollama_embeddings("nomic-embed-text", settings)
    vectors = embedder.embed_documents(["alpha", "beta"])
    assert len(vectors) == 2 and len(vectors[0]) == 16
    assert embedder.embed_query("alpha") == pytest.approx(vectors[0])
    request = ollama.state.requests[-1]
    assert request.path == "/api/embed" and request.body["input"] == ["alpha"]
    with pytest.raises(EmbeddingError) as caught:
        ollama_embeddings("embeddinggemma", settings).embed_query("x")
    assert "ollama pull embeddinggemma" in caught.value.fix
    with pytest.raises(EmbeddingError):
        ollama_embeddings("nomic-embed-text", Settings(ollama_url="http://127.0.0.1:9")).embed_query("x")
