"""The deploy's last step: load the model with one authenticated call, before traffic.

The startup probe passes as soon as Ollama opens its port, and start.sh's own
warm-up runs after that, so a revision can be "ready" with a model that never
loads. `POST /api/generate {"model": M}` (no prompt) makes Ollama load the model
and answer 200 without generating: the deploy succeeds only if that works.
A vLLM service speaks the OpenAI API instead: `GET /v1/models` must list the
model (its --served-model-name), then one chat of a single token must answer.

The calls go through the app's one request path to model servers (rag/llms/http.py):
its client, its `RetryPolicy` (with the deploy's own statuses and schedule, driven here so
each wait is reported as it starts) and its `translate()`, with the warm-up's wording.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Generator
from typing import TYPE_CHECKING, Any

import httpx

from .errors import DeployError
from .events import Event, Notice

if TYPE_CHECKING:
    from google.auth.credentials import Credentials

    from rag.errors import RagError
    from rag.llms.http import ModelServer, RetryPolicy

# Cloud Run answers 429/503 while no instance can take the request yet (cold start,
# max instances busy); 403 while a just-granted run.invoker is still propagating.
RETRY_STATUSES = frozenset({403, 429, 503})
WAITS = (5, 10, 20, 30)  # between attempts: about a minute, the IAM propagation time
CONNECT_TIMEOUT_S = 10
OLLAMA, OPENAI = "ollama", "openai"  # the APIs, as rag/llms/openai.py's detect_api names them
Call = tuple[str, str, dict[str, Any] | None]


def calls(api: str, model: str) -> list[Call]:
    """(method, path, body) of the warm-up, in order."""
    if api == OPENAI:
        chat = {"model": model, "messages": [{"role": "user", "content": "Hi"}], "max_tokens": 1}
        return [("GET", "/v1/models", None), ("POST", "/v1/chat/completions", chat)]
    return [("POST", "/api/generate", {"model": model})]


def load_model(
    url: str,
    model: str,
    *,
    timeout_s: float,
    logs_url: str,
    credentials: Credentials | None = None,
    sleep: Callable[[float], None] = time.sleep,
    waits: tuple[float, ...] = WAITS,
    api: str = OLLAMA,
) -> Generator[Event, None, float]:
    """The warm-up calls, each retried on RETRY_STATUSES; returns the seconds they took."""
    from rag.llms.http import RetryPolicy  # langchain's import is slow: only when deploying

    token = _id_token(url, credentials)
    target = _warmup_target(url, token, timeout_s=timeout_s, logs_url=logs_url)
    policy = RetryPolicy(RETRY_STATUSES, waits=waits, max_wait=max(waits, default=0), connection=True)
    timeout = httpx.Timeout(timeout_s, connect=CONNECT_TIMEOUT_S)
    started = time.monotonic()
    with target.client(retrying=False, timeout=timeout) as client:
        for call in calls(api, model):
            resp = yield from _answered(client, target, policy, call, model, sleep)
            if call[1] == "/v1/models":
                _check_served(resp, model, url)
    return time.monotonic() - started


def _answered(
    client: httpx.Client,
    target: ModelServer,
    policy: RetryPolicy,
    call: Call,
    model: str,
    sleep: Callable[[float], None],
) -> Generator[Event, None, httpx.Response]:
    """One call's 200 response, retried while the service cannot take requests yet."""
    from rag.llms.http import status_failure

    method, path, body = call
    attempt = 0
    while True:
        resp: httpx.Response | None
        failure: httpx.HTTPError
        try:
            resp = client.request(method, path, json=body)
        except httpx.TimeoutException as exc:
            raise _deploy_error(target.translate(exc, model)) from exc
        except httpx.TransportError as exc:  # no connection: retried like a 503
            resp, failure = None, exc
        else:
            if resp.status_code == 200:
                return resp
            failure = status_failure(resp)
        wait = policy.wait(attempt, resp)
        if wait is None:
            raise _deploy_error(target.translate(failure, model), resp) from None
        status = "no answer" if resp is None else f"HTTP {resp.status_code}"
        yield Notice(f"The service is not taking requests yet ({status}); retrying in {wait:g} s.")
        sleep(wait)
        attempt += 1


def _deploy_error(error: RagError, resp: httpx.Response | None = None) -> DeployError:
    return DeployError(error.message, error.fix, http_status=resp.status_code if resp is not None else 0)


def _id_token(url: str, credentials: Credentials | None) -> str:
    from rag.errors import RagError

    from .snippets import id_token_for

    try:
        return id_token_for(url, credentials)
    except RagError as err:
        raise DeployError(f"Could not get an ID token to call the service: {err.message}", err.fix) from err


def _check_served(resp: httpx.Response, model: str, url: str) -> None:
    try:
        served = [m.get("id") for m in resp.json().get("data") or [] if isinstance(m, dict)]
    except (ValueError, AttributeError):
        served = None
    if served is None or model not in served:
        raise DeployError(
            f"The service at {url} does not serve the model {model} (GET /v1/models lists "
            f"{', '.join(map(str, served or [])) or 'nothing'}).",
            "vLLM names the model after --served-model-name; deploy again with the same model, "
            "or pick the listed name in the sidebar.",
        )


def _warmup_target(url: str, token: str, *, timeout_s: float, logs_url: str) -> ModelServer:
    """The service as the warm-up calls it: a fixed ID token, and the warm-up's sentences for
    what `ModelServer.translate()` tells apart. (Defined on first use: rag's import is slow.)"""
    from rag.auth import BearerAuth
    from rag.errors import AuthError, ModelError, TargetUnreachable
    from rag.llms.http import ModelServer

    class Warmup(ModelServer):
        def timeout_error(self, model: str) -> RagError:
            return TargetUnreachable(
                f"The service started but the model {model} did not load within {timeout_s:g} s.",
                f"See the service logs ({logs_url}); a model too big for the GPU shows up there. "
                "Press Deploy again to retry the warm-up (finished steps are kept).",
            )

        def unreachable_error(self) -> RagError:
            return TargetUnreachable(
                f"The service at {self.url} could not be reached to load the model.",
                "Check the network connection, then press Deploy again (finished steps are kept).",
            )

        def status_error(self, status: int, message: str, model: str) -> RagError:
            detail = f"HTTP {status}: {message}"
            if status in (401, 403):
                return AuthError(
                    f"The service started but refused the warm-up call ({detail}).",
                    "Grant yourself roles/run.invoker on the service (`gcloud run services "
                    "add-iam-policy-binding ... --role=roles/run.invoker`), then press Deploy again.",
                )
            return ModelError(
                f"The service started but the model {model} did not load ({detail}).",
                f"See the service logs ({logs_url}): a wrong model name, or a model too big for the "
                "GPU's memory, shows up there. Fix the settings and press Deploy again.",
            )

    return Warmup(url, auth=BearerAuth(token))
