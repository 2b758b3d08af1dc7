"""The deploy's last step: load the model with one authenticated call, before traffic.

The startup probe passes as soon as Ollama opens its port, and start.sh's own
warm-up runs after that, so a revision can be "ready" with a model that never
loads. `POST /api/generate {"model": M}` (no prompt) makes Ollama load the model
and answer 200 without generating: the deploy succeeds only if that works.
A vLLM service speaks the OpenAI API instead: `GET /v1/models` must list the
model (its --served-model-name), then one chat of a single token must answer.
Both engines' calls go through the same retry loop and the same request.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Generator

import requests

from deploy.errors import DeployError
from deploy.events import Event, Notice

# Cloud Run answers 429/503 while no instance can take the request yet (cold start,
# max instances busy); 403 while a just-granted run.invoker is still propagating.
RETRY_STATUSES = (403, 429, 503)
WAITS = (5, 10, 20, 30)  # between attempts: about a minute, the IAM propagation time
CONNECT_TIMEOUT_S = 10
OLLAMA, OPENAI = "ollama", "openai"  # the APIs, as rag/llms/openai.py's detect_api names them


def calls(api: str, model: str) -> list[tuple[str, str, dict | None]]:
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
    credentials=None,
    sleep: Callable[[float], None] = time.sleep,
    waits: tuple[float, ...] = WAITS,
    api: str = OLLAMA,
) -> Generator[Event, None, float]:
    """The warm-up calls, each retried on RETRY_STATUSES; returns the seconds they took."""
    token = _id_token(url, credentials)
    started = time.monotonic()
    for method, path, body in calls(api, model):
        resp = yield from _answered(
            url, model, (method, path, body), token, timeout_s, logs_url, sleep, waits
        )
        if path == "/v1/models":
            _check_served(resp, model, url)
    return time.monotonic() - started


def _answered(
    url: str,
    model: str,
    call: tuple[str, str, dict | None],
    token: str,
    timeout_s: float,
    logs_url: str,
    sleep: Callable[[float], None],
    waits: tuple[float, ...],
) -> Generator[Event, None, requests.Response]:
    """One call's 200 response, retried while the service cannot take requests yet."""
    for wait in (*waits, None):
        resp = _send(url, model, call, token, timeout_s, logs_url)
        if resp is not None and resp.status_code == 200:
            return resp
        retry = resp is None or resp.status_code in RETRY_STATUSES
        if not retry or wait is None:
            raise _failure(resp, model, url, logs_url)
        status = "no answer" if resp is None else f"HTTP {resp.status_code}"
        yield Notice(f"The service is not taking requests yet ({status}); retrying in {wait:g} s.")
        sleep(wait)
    raise AssertionError("unreachable")


def _id_token(url: str, credentials) -> str:
    from deploy.snippets import id_token_for
    from rag.errors import RagError

    try:
        return id_token_for(url, credentials)
    except RagError as err:
        raise DeployError(f"Could not get an ID token to call the service: {err.message}", err.fix) from err


def _check_served(resp: requests.Response, model: str, url: str) -> None:
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


def _send(
    url: str, model: str, call: tuple[str, str, dict | None], token: str, timeout_s: float, logs_url: str
) -> requests.Response | None:
    """The response, or None when the connection failed (retried like a 503)."""
    method, path, body = call
    try:
        return requests.request(
            method,
            f"{url}{path}",
            json=body,
            headers={"Authorization": f"Bearer {token}"},
            timeout=(CONNECT_TIMEOUT_S, timeout_s),
        )
    except requests.Timeout as err:
        raise DeployError(
            f"The service started but the model {model} did not load within {timeout_s:g} s.",
            f"See the service logs ({logs_url}); a model too big for the GPU shows up there. "
            "Press Deploy again to retry the warm-up (finished steps are kept).",
        ) from err
    except requests.ConnectionError:
        return None


def _failure(resp: requests.Response | None, model: str, url: str, logs_url: str) -> DeployError:
    if resp is None:
        return DeployError(
            f"The service at {url} could not be reached to load the model.",
            "Check the network connection, then press Deploy again (finished steps are kept).",
        )
    detail = f"HTTP {resp.status_code}: {_error_text(resp)}"
    if resp.status_code in (401, 403):
        return DeployError(
            f"The service started but refused the warm-up call ({detail}).",
            "Grant yourself roles/run.invoker on the service (`gcloud run services "
            "add-iam-policy-binding ... --role=roles/run.invoker`), then press Deploy again.",
            http_status=resp.status_code,
        )
    return DeployError(
        f"The service started but the model {model} did not load ({detail}).",
        f"See the service logs ({logs_url}): a wrong model name, or a model too big for the "
        "GPU's memory, shows up there. Fix the settings and press Deploy again.",
        http_status=resp.status_code,
    )


def _error_text(resp: requests.Response) -> str:
    try:
        body = resp.json()
    except ValueError:
        return resp.text[:300] or resp.reason
    return str(body.get("error", body) if isinstance(body, dict) else body)[:300]
