"""A server that speaks Ollama's HTTP API the way Ollama does.

Endpoints: `GET /` ("Ollama is running"), `GET /api/version`, `GET /api/tags`,
`POST /api/show`, `POST /api/chat` and `POST /api/generate` (NDJSON stream, or
one object with `"stream": false`; the last chunk carries `done_reason` and the
duration/count fields), `POST /api/embed`. Errors use Ollama's `{"error": ...}`
bodies: 404 for a model that is not pulled, 400 for bad requests.

Test knobs: the answer's tokens and the delay between them (requests are
decoded in parallel, one thread each, like `OLLAMA_NUM_PARALLEL`), a number of
503s to answer first (a cold Cloud Run instance), a token check on the
Authorization header (401 otherwise), and an `{"error": ...}` line mid-stream.
Every request is recorded.

Capacity (off by default): `parallel` decode slots, like `OLLAMA_NUM_PARALLEL`
(a chat waits for a free slot before its first token, so waiting adds
latency but not decode time); `queue` waiting requests at most, beyond which a
chat is answered 503 at once, like Ollama's `OLLAMA_MAX_QUEUE` or a full Cloud
Run instance; and `slowdown`, each extra concurrent decode making every token
that fraction slower, as a GPU's batch shares its compute.
"""

from __future__ import annotations

import hashlib
import json
import math
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from rag.llms.ollama import default_model

from .base import LocalServer, QuietHandler


@dataclass
class Recorded:
    method: str
    path: str
    headers: dict[str, str]
    body: Any


@dataclass
class OllamaState:
    # the notebook's model, the app's default for Ollama targets (deploy/fit.py picks it), an embedder
    models: list[str] = field(
        default_factory=lambda: ["gemma2:9b", default_model(), "nomic-embed-text:latest"]
    )
    answer: Callable[[list[dict[str, Any]]], str] = lambda messages: "Cloud Run runs containers."
    token_delay: float = 0.0
    first_token_delay: float = 0.0
    unavailable: int = 0  # answer this many requests with 503 first
    unavailable_status: int = 503
    retry_after: str | None = "0"
    accept_token: Callable[[str | None], bool] | None = None  # None: no auth required
    error_after_tokens: int | None = None  # send {"error": ...} after this many tokens
    parallel: int | None = None  # decode slots (OLLAMA_NUM_PARALLEL); None: unlimited
    queue: int | None = None  # with `parallel`: at most this many wait, the rest get 503; None: no limit
    slowdown: float = 0.0  # per extra concurrent decode, each token takes this fraction longer
    embed_dims: int = 16
    version: str = "0.12.6"
    requests: list[Recorded] = field(default_factory=list)
    active: int = 0
    max_active: int = 0
    decoding: int = 0  # chats holding a slot now
    max_decoding: int = 0
    waiting: int = 0  # chats waiting for a slot now
    max_waiting: int = 0
    rejected: int = 0  # chats answered 503 because the queue was full
    lock: threading.Lock = field(default_factory=threading.Lock)
    slots: threading.Condition = field(default_factory=threading.Condition)

    def tokens(self, messages: list[dict[str, Any]]) -> list[str]:
        text = self.answer(messages)
        pieces = text.split(" ")
        return [p if i == 0 else " " + p for i, p in enumerate(pieces)]


def fake_vector(text: str, dims: int) -> list[float]:
    """A deterministic unit vector per text (same text, same vector)."""
    digest = hashlib.sha256(text.encode()).digest()
    raw = [(digest[i % len(digest)] - 127.5) / 127.5 for i in range(dims)]
    norm = math.sqrt(sum(v * v for v in raw)) or 1.0
    return [v / norm for v in raw]


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


class OllamaHandler(QuietHandler):
    _slot = False  # this request holds one of `parallel` decode slots

    @property
    def state(self) -> OllamaState:
        return self.server.owner.state  # type: ignore[attr-defined]

    def _record(self, body: Any) -> None:
        with self.state.lock:
            self.state.requests.append(Recorded(self.command, self.path, dict(self.headers.items()), body))

    def _gate(self) -> bool:
        """Cold start and auth, in the order Cloud Run applies them: auth first."""
        state = self.state
        if state.accept_token is not None:
            header = self.headers.get("Authorization", "")
            token = header[7:] if header.startswith("Bearer ") else None
            if not state.accept_token(token):
                self.send_response(401)
                self.send_header("Content-Length", "0")
                self.send_header("WWW-Authenticate", 'Bearer error="invalid_token"')
                self.end_headers()
                return False
        with state.lock:
            cold = state.unavailable > 0
            if cold:
                state.unavailable -= 1
        if cold:
            headers = {"Retry-After": state.retry_after} if state.retry_after is not None else {}
            self.send_json(state.unavailable_status, {"error": "service unavailable"}, headers)
            return False
        return True

    def do_HEAD(self) -> None:
        self.send_response(200)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def do_GET(self) -> None:
        self._record(None)
        if not self._gate():
            return
        if self.path == "/":
            body = b"Ollama is running"
            self.send_response(200)
            self.send_header("Content-Type", "text/plain; charset=utf-8")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
        elif self.path == "/api/version":
            self.send_json(200, {"version": self.state.version})
        elif self.path == "/api/tags":
            models = [
                {
                    "name": m,
                    "model": m,
                    "modified_at": "2025-01-01T00:00:00Z",
                    "size": 5_400_000_000,
                    "digest": hashlib.sha256(m.encode()).hexdigest(),
                    "details": {
                        "format": "gguf",
                        "family": m.split(":")[0],
                        "parameter_size": "9.2B",
                        "quantization_level": "Q4_0",
                    },
                }
                for m in self.state.models
            ]
            self.send_json(200, {"models": models})
        else:
            self.send_json(404, {"error": "404 page not found"})

    def do_POST(self) -> None:
        try:
            body = self.read_json() or {}
        except ValueError:
            self._record(None)
            self.send_json(400, {"error": "invalid character in JSON"})
            return
        self._record(body)
        if not self._gate():
            return
        routes = {
            "/api/chat": self._chat,
            "/api/generate": self._chat,
            "/api/embed": self._embed,
            "/api/show": self._show,
        }
        route = routes.get(self.path)
        if route is None:
            self.send_json(404, {"error": "404 page not found"})
            return
        model = body.get("model", "")
        if not model:
            self.send_json(400, {"error": "model is required"})
            return
        if not self._known(model):
            self.send_json(404, {"error": f'model "{model}" not found, try pulling it first'})
            return
        route(body)

    def _known(self, model: str) -> bool:
        return model in self.state.models or f"{model}:latest" in self.state.models

    def _show(self, body: dict[str, Any]) -> None:
        self.send_json(
            200,
            {
                "modelfile": "",
                "parameters": "",
                "template": "{{ .Prompt }}",
                "details": {"family": body["model"].split(":")[0]},
                "capabilities": ["completion"],
            },
        )

    def _embed(self, body: dict[str, Any]) -> None:
        inputs = body.get("input", [])
        inputs = [inputs] if isinstance(inputs, str) else inputs
        vectors = [fake_vector(text, self.state.embed_dims) for text in inputs]
        self.send_json(
            200,
            {
                "model": body["model"],
                "embeddings": vectors,
                "total_duration": 1_000_000,
                "load_duration": 100_000,
                "prompt_eval_count": sum(len(t.split()) for t in inputs),
            },
        )

    def _chat(self, body: dict[str, Any]) -> None:
        state = self.state
        is_chat = self.path == "/api/chat"
        messages = body.get("messages") or [{"role": "user", "content": body.get("prompt", "")}]
        tokens = state.tokens(messages)
        limit = (body.get("options") or {}).get("num_predict")
        reason = "stop"
        if isinstance(limit, int) and 0 < limit < len(tokens):
            tokens, reason = tokens[:limit], "length"
        if not self._admit():
            return
        with state.lock:
            state.active += 1
            state.max_active = max(state.max_active, state.active)
        try:
            started = time.perf_counter_ns()  # after the wait for a slot: eval_duration is decode time
            if body.get("stream", True):
                self._stream(body["model"], tokens, reason, is_chat, started, messages)
            else:
                time.sleep(state.first_token_delay + state.token_delay * len(tokens))
                final = self._final(
                    body["model"], "".join(tokens), reason, is_chat, started, messages, tokens
                )
                self._release()
                self.send_json(200, final)
        finally:
            with state.lock:
                state.active -= 1
            self._release()

    def _admit(self) -> bool:
        """Take a decode slot, waiting if all are busy; False (503 sent) when the queue is full."""
        state = self.state
        if state.parallel is None:
            return True
        with state.slots:
            if state.decoding >= state.parallel and state.queue is not None and state.waiting >= state.queue:
                state.rejected += 1
                busy = True
            else:
                busy = False
                state.waiting += 1
                state.max_waiting = max(state.max_waiting, state.waiting)
                state.slots.wait_for(lambda: state.decoding < (state.parallel or 1))
                state.waiting -= 1
                state.decoding += 1
                state.max_decoding = max(state.max_decoding, state.decoding)
                self._slot = True
        if busy:  # Ollama's own words for a full queue
            full = "server busy, please try again.  maximum pending requests exceeded"
            self.send_json(503, {"error": full})
        return not busy

    def _release(self) -> None:
        """Give the slot back (once); called before the answer's last bytes, so a client's next
        request never finds its own previous answer still holding the slot."""
        state = self.state
        if not self._slot:
            return
        self._slot = False
        with state.slots:
            state.decoding -= 1
            state.slots.notify()

    def _token_delay(self) -> float:
        """token_delay, stretched by `slowdown` for each other chat decoding at the same time."""
        state = self.state
        if not state.slowdown:
            return state.token_delay
        with state.lock:
            others = max(state.active - 1, 0)
        return state.token_delay * (1 + state.slowdown * others)

    def _piece(self, model: str, text: str, is_chat: bool) -> dict[str, Any]:
        piece: dict[str, Any] = {"model": model, "created_at": _now(), "done": False}
        if is_chat:
            piece["message"] = {"role": "assistant", "content": text}
        else:
            piece["response"] = text
        return piece

    def _final(
        self,
        model: str,
        text: str,
        reason: str,
        is_chat: bool,
        started: int,
        messages: list[dict[str, Any]],
        tokens: list[str],
    ) -> dict[str, Any]:
        final = self._piece(model, text, is_chat)
        total = time.perf_counter_ns() - started
        final.update(
            {
                "done": True,
                "done_reason": reason,
                "total_duration": total,
                "load_duration": 1_000_000,
                "prompt_eval_count": sum(len(str(m.get("content", "")).split()) for m in messages),
                "prompt_eval_duration": 2_000_000,
                "eval_count": len(tokens),
                "eval_duration": max(total - 3_000_000, 1),
            }
        )
        return final

    def _stream(
        self,
        model: str,
        tokens: list[str],
        reason: str,
        is_chat: bool,
        started: int,
        messages: list[dict[str, Any]],
    ) -> None:
        state = self.state
        self.send_response(200)
        self.send_header("Content-Type", "application/x-ndjson")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        time.sleep(state.first_token_delay)
        for i, token in enumerate(tokens):
            if state.error_after_tokens is not None and i == state.error_after_tokens:
                self._chunk({"error": "an error was encountered while running the model: unexpected EOF"})
                break
            self._chunk(self._piece(model, token, is_chat))
            time.sleep(self._token_delay())
        else:
            self._release()
            self._chunk(self._final(model, "", reason, is_chat, started, messages, tokens))
        self.wfile.write(b"0\r\n\r\n")
        self.wfile.flush()

    def _chunk(self, obj: dict[str, Any]) -> None:
        data = json.dumps(obj).encode() + b"\n"
        self.wfile.write(f"{len(data):X}\r\n".encode() + data + b"\r\n")
        self.wfile.flush()


class FakeOllama(LocalServer):
    BACKLOG = 256  # a room's sessions connect at once; the default 5 drops SYNs (a 1 s retry each)

    def __init__(self, state: OllamaState | None = None) -> None:
        self.state = state or OllamaState()
        super().__init__(OllamaHandler)
        self.httpd.socket.listen(self.BACKLOG)
