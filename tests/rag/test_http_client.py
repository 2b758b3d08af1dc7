"""The one request path to model servers, through httpx's MockTransport seam: what is retried,
how long each wait is, and the sentences `translate()` makes. (The real servers are in
test_ollama_target.py and test_openai_target.py.)"""

from __future__ import annotations

import httpx
import pytest

from rag.errors import AuthError, ServiceStarting, TargetUnreachable
from rag.llms.http import ModelServer, RetryPolicy, RetryTransport, status_failure


def _replying(*answers: int | Exception, headers: dict[str, str] | None = None) -> httpx.MockTransport:
    """Answers the given statuses in turn (an exception is raised instead of answering)."""
    queue = list(answers)

    def handler(request: httpx.Request) -> httpx.Response:
        answer = queue.pop(0)
        if isinstance(answer, Exception):
            raise answer
        return httpx.Response(answer, headers=headers or {}, json={"error": f"said {answer}"})

    return httpx.MockTransport(handler)


def _get(policy: RetryPolicy, inner: httpx.MockTransport, waits: list[float]) -> int:
    transport = RetryTransport(policy, inner=inner, sleep=waits.append)
    with httpx.Client(transport=transport, base_url="http://model") as client:
        return client.get("/api/tags").status_code


def test_the_default_policy_retries_429_and_503_doubling_then_gives_up():
    waits: list[float] = []
    assert _get(RetryPolicy(retries=2), _replying(503, 429, 503), waits) == 503
    assert waits == [1.0, 2.0]
    waits.clear()
    assert _get(RetryPolicy(), _replying(404), waits) == 404 and waits == []  # not retried


def test_a_fixed_schedule_the_servers_retry_after_and_the_cap():
    waits: list[float] = []
    policy = RetryPolicy(frozenset({403}), waits=(5, 10, 20), max_wait=12)
    assert _get(policy, _replying(403, 403, 403, 200), waits) == 200
    assert waits == [5, 10, 12]
    waits.clear()
    assert _get(RetryPolicy(), _replying(503, 200, headers={"Retry-After": "7"}), waits) == 200
    assert waits == [7.0]


def test_a_refused_connection_is_retried_only_when_the_policy_says_so():
    refused = httpx.ConnectError("refused")
    waits: list[float] = []
    assert _get(RetryPolicy(connection=True, waits=(3,)), _replying(refused, 200), waits) == 200
    assert waits == [3]
    with pytest.raises(httpx.ConnectError):
        _get(RetryPolicy(), _replying(refused, 200), waits)
    assert RetryPolicy(connection=True, waits=(3,)).wait(1, None) is None  # the schedule is bounded


def test_translate_tells_failures_apart_once_for_every_caller():
    server = ModelServer("http://model:11434")
    request = httpx.Request("GET", "http://model:11434/api/tags")
    refused = server.translate(httpx.ConnectError("refused", request=request), "m")
    assert isinstance(refused, TargetUnreachable)
    assert refused.message == "Cannot reach the server at http://model:11434."
    assert "URL and port" in refused.fix
    slow = server.translate(httpx.ReadTimeout("slow", request=request), "m")
    assert slow.message == "The server at http://model:11434 did not answer in time."
    denied = server.translate(status_failure(httpx.Response(403, json={"error": "no"}, request=request)), "m")
    assert isinstance(denied, AuthError) and "(403: no)" in denied.message
    busy = server.translate(status_failure(httpx.Response(503, text="busy", request=request)), "m")
    assert isinstance(busy, ServiceStarting)


def test_the_client_carries_auth_and_no_retries_when_asked():
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(503)

    class Token(httpx.Auth):
        def auth_flow(self, request: httpx.Request):
            request.headers["Authorization"] = "Bearer t"
            yield request

    server = ModelServer("http://model", auth=Token())
    kwargs = server.client_kwargs(retrying=False, timeout=2.0)
    assert not isinstance(kwargs["transport"], RetryTransport) and kwargs["timeout"] == 2.0
    with httpx.Client(base_url=server.url, auth=kwargs["auth"], transport=httpx.MockTransport(handler)) as c:
        assert c.get("/").status_code == 503
    assert len(seen) == 1 and seen[0].headers["Authorization"] == "Bearer t"
    assert isinstance(server.client_kwargs()["transport"], RetryTransport)
