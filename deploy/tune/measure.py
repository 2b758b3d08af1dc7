"""One timed chat request, and the client it goes through.

The client is the target's own (rag/llms/http.py: the app's one request path to model
servers), with its auth (`rag.auth`: a Google ID token for Cloud Run, or a bearer token)
but without retries: in a load test a 429 or 503 is a result to count, not something
to hide. Every failure becomes an error category on the `Sample`, never an exception
out of the sweep.

One request path for both APIs the endpoint may speak (asked once, `resolve_api`):
Ollama's `/api/chat` (NDJSON lines, the server's own token counts and decode time)
and OpenAI's `/v1/chat/completions` (server-sent events; token counts from the
`usage` chunk, or one per streamed chunk when the server sends none, as llama.cpp's
Python server does; decode time measured by the client, first token to last).
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any
from urllib.parse import urlsplit

import httpx

from rag.auth import BearerAuth, IdTokenSource
from rag.errors import RagError
from rag.llms.base import Target
from rag.llms.ollama import CloudRunTarget, OllamaTarget
from rag.llms.openai import OLLAMA, OPENAI, detect_api, openai_twin

from ..errors import DeployError

CHAT_PATHS = {OLLAMA: "/api/chat", OPENAI: "/v1/chat/completions"}
CHAT_PATH = CHAT_PATHS[OLLAMA]
TOKEN_FIX = (
    "Give the token the server expects: `--token` (default: $OLLAMA_BEARER_TOKEN) on the "
    "command line, the token field on the Deploy page."
)
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


class _TokenTarget(OllamaTarget):
    """A plain URL, with or without a bearer token: the fix names the tuner's own token option."""

    def auth_fix(self) -> str:
        return TOKEN_FIX


def target_for(
    url: str, *, cloudrun: bool | None = None, token: str = "", source: IdTokenSource | None = None
) -> OllamaTarget:
    """The endpoint with the app's auth; `cloudrun=None` guesses from a *.run.app URL.

    An Ollama target until `resolve_api` has asked the endpoint which API it speaks."""
    if cloudrun is None:
        cloudrun = is_cloud_run_url(url) and not token
    if cloudrun:
        return CloudRunTarget(url, source=source)
    return _TokenTarget(url, auth=BearerAuth(token) if token else None)


def resolve_api(target: OllamaTarget) -> tuple[str, Target]:
    """Which API the endpoint speaks, and the app's target for it (for the check): TuneError if
    it cannot be asked (unreachable, refused, neither API)."""
    try:
        api = detect_api(target)
    except Exception as exc:
        error = target.translate(exc, "")
        raise TuneError(error.message, error.fix) from None
    return api, (target if api == OLLAMA else openai_twin(target))


def load_client(target: OllamaTarget, connections: int) -> httpx.Client:
    """The target's own client (auth, base URL, TLS), without retries, `connections` wide."""
    timeout = httpx.Timeout(connect=CONNECT_S, read=READ_S, write=30.0, pool=CONNECT_S)
    return target.client(retrying=False, timeout=timeout, connections=connections)


def timed_chat(
    client: httpx.Client,
    payload: dict[str, Any],
    *,
    t0: float,
    deadline: float,
    cancel: threading.Event,
    read_s: float = READ_S,
    api: str = OLLAMA,
) -> Sample:
    """Stream one chat; `t0` is the level's start (time.monotonic), `deadline` cuts it off."""
    start = time.monotonic()
    # A request queued at the server must not outlive the cap: bound each read by the deadline.
    read = max(0.05, min(read_s, deadline - start))
    timeout = httpx.Timeout(connect=min(CONNECT_S, read), read=read, write=30.0, pool=read)

    def done(error: str = "", **fields: Any) -> Sample:
        return Sample(error, start - t0, time.monotonic() - t0, **fields)

    try:
        with client.stream("POST", CHAT_PATHS[api], json=payload, timeout=timeout) as response:
            if response.status_code != 200:
                response.read()
                return done(str(response.status_code))
            return _read_stream(response, start, deadline, cancel, done, api)
    except httpx.TimeoutException:
        return done(CUT if time.monotonic() >= deadline - _GRACE_S else "timeout")
    except (httpx.TransportError, OSError):
        return done(CUT if cancel.is_set() else "connection")
    except RagError:  # the ID token could not be had (rag.auth raises AuthError)
        return done("auth")
    except Exception:  # a load test reports failures; it never raises them mid-sweep
        return done("error")


def _read_stream(
    response: httpx.Response,
    start: float,
    deadline: float,
    cancel: threading.Event,
    done: Callable[..., Sample],
    api: str,
) -> Sample:
    ttft: float | None = None
    usage: dict[str, Any] = {}
    pieces = 0
    for line in response.iter_lines():
        if cancel.is_set() or time.monotonic() >= deadline:
            return done(CUT)
        try:
            chunk = _openai_line(line) if api == OPENAI else _ollama_line(line)
        except ValueError:
            return done("stream")
        if chunk is None:
            continue
        if ttft is None and (chunk.text or chunk.final):
            ttft = time.monotonic() - start
        pieces += bool(chunk.text)
        usage = chunk.counters or usage
        if chunk.final:
            if api == OLLAMA:
                return done(ttft_s=ttft, **_counters(usage, None))
            usage = {"eval_count": pieces, **{k: v for k, v in usage.items() if v is not None}}
            return done(ttft_s=ttft, **_counters(usage, time.monotonic() - start - (ttft or 0.0)))
    return done("stream")  # ended without a final chunk


@dataclass(frozen=True)
class _Chunk:
    text: str
    final: bool = False
    counters: dict[str, Any] | None = None


def _ollama_line(line: str) -> _Chunk | None:
    """One NDJSON line of /api/chat; ValueError for junk or an error."""
    if not line.strip():
        return None
    chunk = json.loads(line)
    if not isinstance(chunk, dict) or "error" in chunk:
        raise ValueError("error chunk")
    final = bool(chunk.get("done"))
    return _Chunk(_text(chunk), final, chunk if final else None)


def _openai_line(line: str) -> _Chunk | None:
    """One server-sent-events line of /v1/chat/completions; ValueError for junk or an error."""
    if not line.startswith("data:"):
        return None  # blank separators, comments (": ping"), event names
    data = line[5:].strip()
    if data == "[DONE]":
        return _Chunk("", final=True)
    chunk = json.loads(data)
    if not isinstance(chunk, dict) or "error" in chunk:
        raise ValueError("error chunk")
    choices = chunk.get("choices") or [{}]
    delta = choices[0].get("delta") if isinstance(choices[0], dict) else None
    delta = delta if isinstance(delta, dict) else {}
    text = str(delta.get("content") or delta.get("reasoning_content") or "")
    usage = chunk.get("usage")
    counters = None
    if isinstance(usage, dict):
        counters = {
            "eval_count": usage.get("completion_tokens"),
            "prompt_eval_count": usage.get("prompt_tokens"),
        }
    return _Chunk(text, counters=counters)


def _counters(usage: dict[str, Any], decode_s: float | None) -> dict[str, Any]:
    """Sample fields from Ollama's final chunk, or from OpenAI's usage plus the client's decode time."""
    if decode_s is not None:
        return {
            "eval_count": int(usage.get("eval_count") or 0),
            "eval_s": max(decode_s, 0.0),
            "prompt_eval_count": int(usage.get("prompt_eval_count") or 0),
        }
    return {
        "eval_count": int(usage.get("eval_count") or 0),
        "eval_s": (usage.get("eval_duration") or 0) / 1e9,
        "prompt_eval_count": int(usage.get("prompt_eval_count") or 0),
        "prompt_eval_s": (usage.get("prompt_eval_duration") or 0) / 1e9,
    }


def _text(chunk: dict[str, Any]) -> str:
    message = chunk.get("message") or {}
    return str(message.get("content") or message.get("thinking") or chunk.get("response") or "")


def check_target(target: Target, model: str) -> None:
    """The app's own check (with its retries, which wake a cold service): TuneError if it fails."""
    status = target.check(model)
    if not status.ok:
        raise TuneError(status.message, status.fix)
