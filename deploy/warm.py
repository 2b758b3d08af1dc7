"""The deploy's last step: load the model with one authenticated call, before traffic.

The startup probe passes as soon as Ollama opens its port, and start.sh's own
warm-up runs after that, so a revision can be "ready" with a model that never
loads. `POST /api/generate {"model": M}` (no prompt) makes Ollama load the model
and answer 200 without generating: the deploy succeeds only if that works.
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


def load_model(url: str, model: str, *, timeout_s: float, logs_url: str, credentials=None,
               sleep: Callable[[float], None] = time.sleep,
               waits: tuple[float, ...] = WAITS) -> Generator[Event, None, float]:
    """One warm-up call, retried on RETRY_STATUSES; returns the seconds it took."""
    token = _id_token(url, credentials)
    started = time.monotonic()
    for wait in (*waits, None):
        resp = _post(url, model, token, timeout_s, logs_url)
        if resp is not None and resp.status_code == 200:
            return time.monotonic() - started
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
        raise DeployError(f"Could not get an ID token to call the service: {err.message}",
                          err.fix) from err


def _post(url: str, model: str, token: str, timeout_s: float,
          logs_url: str) -> requests.Response | None:
    """The response, or None when the connection failed (retried like a 503)."""
    try:
        return requests.post(f"{url}/api/generate", json={"model": model},
                             headers={"Authorization": f"Bearer {token}"},
                             timeout=(CONNECT_TIMEOUT_S, timeout_s))
    except requests.Timeout as err:
        raise DeployError(
            f"The service started but the model {model} did not load within {timeout_s:g} s.",
            f"See the service logs ({logs_url}); a model too big for the GPU shows up there. "
            "Press Deploy again to retry the warm-up (finished steps are kept).") from err
    except requests.ConnectionError:
        return None


def _failure(resp: requests.Response | None, model: str, url: str, logs_url: str) -> DeployError:
    if resp is None:
        return DeployError(f"The service at {url} could not be reached to load the model.",
                           "Check the network connection, then press Deploy again "
                           "(finished steps are kept).")
    detail = f"HTTP {resp.status_code}: {_error_text(resp)}"
    if resp.status_code in (401, 403):
        return DeployError(
            f"The service started but refused the warm-up call ({detail}).",
            "Grant yourself roles/run.invoker on the service (`gcloud run services "
            "add-iam-policy-binding ... --role=roles/run.invoker`), then press Deploy again.",
            http_status=resp.status_code)
    return DeployError(
        f"The service started but the model {model} did not load ({detail}).",
        f"See the service logs ({logs_url}): a wrong model name, or a model too big for the "
        "GPU's memory, shows up there. Fix the settings and press Deploy again.",
        http_status=resp.status_code)


def _error_text(resp: requests.Response) -> str:
    try:
        body = resp.json()
    except ValueError:
        return resp.text[:300] or resp.reason
    return str(body.get("error", body) if isinstance(body, dict) else body)[:300]
