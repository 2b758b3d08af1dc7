"""One timed chat request, and the client it goes through.

The client carries the app's own auth (`rag.auth`: a Google ID token for Cloud
Run, or a bearer token) but not its retrying transport: in a load test a 429
or 503 is a result to count, not something to hide. Every failure becomes an
error category on the `Sample`, never an exception out of the sweep.
"""

from __future__ import annotations

import json
import threading
import time
from dataclasses import asdict, dataclass
from typing import Any
from urllib.parse import urlsplit

import httpx

from deploy.errors import DeployError
from rag.auth import IdTokenSource
from rag.errors import RagError
from rag.llms.ollama import CloudRunTarget, OllamaTarget, bearer_target

CHAT_PATH = "/api/chat"
CONNECT_S = 15.0
READ_S = 300.0  # a slow generation, not a dead server; the time caps bound the sweep anyway
BUSY = ("429", "503")  # instance or queue full: the errors the recommendation must avoid
CUT = "cut"  # stopped by a time cap or a cancel: neither a success nor an error
_GRACE_S = 0.05  # a read timeout set to end at the deadline may fire a hair early


class TuneError(DeployError):
    """The tune could not start (unreachable, auth, missing model, bad settings)."""

    kind = "tune"


@dataclass(frozen=True)
class Sample:
    """One request: client-side timings plus Ollama's own counters from the final chunk."""

    # "" ok; a status code ("429", "503", ...), "timeout", "connection", "stream", "auth", or "cut"
    error: str = ""
    start_s: float = 0.0  # when it was sent, seconds after its level started
    end_s: float = 0.0
    ttft_s: float | None = None  # first content chunk, as the client saw it
    eval_count: int = 0  # output tokens
    eval_s: float = 0.0  # decode time, excluding any wait for a slot
    prompt_eval_count: int = 0
    prompt_eval_s: float = 0.0

    @property
    def ok(self) -> bool:
        return not self.error

    @property
    def total_s(self) -> float:
        return self.end_s - self.start_s

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "total_s": self.total_s}


def is_cloud_run_url(url: str) -> bool:
    return (urlsplit(url).hostname or "").endswith(".run.app")


def target_for(
    url: str, *, cloudrun: bool | None = None, token: str = "", source: IdTokenSource | None = None
) -> OllamaTarget:
    """An Ollama target with the app's auth; `cloudrun=None` guesses from a *.run.app URL."""
    if cloudrun is None:
        cloudrun = is_cloud_run_url(url) and not token
    return CloudRunTarget(url, source=source) if cloudrun else bearer_target(url, token)


def load_client(target: OllamaTarget, connections: int) -> httpx.Client:
    """The target's auth and base URL, without RetryTransport."""
    limits = httpx.Limits(max_connections=connections, max_keepalive_connections=connections)
    timeout = httpx.Timeout(connect=CONNECT_S, read=READ_S, write=30.0, pool=CONNECT_S)
    return httpx.Client(base_url=target.url, auth=target.auth, limits=limits, timeout=timeout)


def timed_chat(
    client: httpx.Client,
    payload: dict[str, Any],
    *,
    t0: float,
    deadline: float,
    cancel: threading.Event,
    read_s: float = READ_S,
) -> Sample:
    """Stream one chat; `t0` is the level's start (time.monotonic), `deadline` cuts it off."""
    start = time.monotonic()
    # A request queued at the server must not outlive the cap: bound each read by the deadline.
    read = max(0.05, min(read_s, deadline - start))
    timeout = httpx.Timeout(connect=min(CONNECT_S, read), read=read, write=30.0, pool=read)

    def done(error: str = "", **fields: Any) -> Sample:
        return Sample(error, start - t0, time.monotonic() - t0, **fields)

    try:
        with client.stream("POST", CHAT_PATH, json=payload, timeout=timeout) as response:
            if response.status_code != 200:
                response.read()
                return done(str(response.status_code))
            return _read_stream(response, start, deadline, cancel, done)
    except httpx.TimeoutException:
        return done(CUT if time.monotonic() >= deadline - _GRACE_S else "timeout")
    except (httpx.TransportError, OSError):
        return done(CUT if cancel.is_set() else "connection")
    except RagError:  # the ID token could not be had (rag.auth raises AuthError)
        return done("auth")
    except Exception:  # a load test reports failures; it never raises them mid-sweep
        return done("error")


def _read_stream(response: httpx.Response, start: float, deadline: float, cancel: threading.Event,
                 done: Any) -> Sample:
    ttft: float | None = None
    for line in response.iter_lines():
        if cancel.is_set() or time.monotonic() >= deadline:
            return done(CUT)
        if not line.strip():
            continue
        try:
            chunk = json.loads(line)
        except ValueError:
            return done("stream")
        if "error" in chunk:
            return done("stream")
        if ttft is None and (_text(chunk) or chunk.get("done")):
            ttft = time.monotonic() - start
        if chunk.get("done"):
            return done(
                ttft_s=ttft,
                eval_count=int(chunk.get("eval_count") or 0),
                eval_s=(chunk.get("eval_duration") or 0) / 1e9,
                prompt_eval_count=int(chunk.get("prompt_eval_count") or 0),
                prompt_eval_s=(chunk.get("prompt_eval_duration") or 0) / 1e9,
            )
    return done("stream")  # ended without a final chunk


def _text(chunk: dict[str, Any]) -> str:
    message = chunk.get("message") or {}
    return str(message.get("content") or message.get("thinking") or chunk.get("response") or "")


def check_target(target: OllamaTarget, model: str) -> None:
    """The app's own check (with its retries, which wake a cold service): TuneError if it fails."""
    status = target.check(model)
    if not status.ok:
        raise TuneError(status.message, status.fix)
