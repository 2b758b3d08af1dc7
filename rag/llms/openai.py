"""OpenAI-compatible targets: any `/v1` chat server (vLLM, llama.cpp, ...), and Cloud Run services
that may speak either API.

Chat goes through `langchain-openai`'s ChatOpenAI, on an httpx client that carries this
app's auth and cold-start retries (http.py); the SDK's own retries are off, so a request
is retried in one place. Errors become sentences in `HttpTarget.translate()`, shared with
the Ollama target. OpenAI servers do not report decode time, so `Finish.eval_seconds` stays
None and the chains measure tokens per second from the stream. Token counts come from the
`usage` chunk (`stream_options.include_usage`); a server that sends none (llama.cpp's
Python server) streams one token per chunk, so the chunks are counted instead.

`cloudrun:URL` builds a `CloudRunService`: on first use it asks the service which API it
speaks (`/api/version` answers only on Ollama; `/v1/models` on OpenAI-compatible servers,
Ollama included, hence the order) and sends Google ID tokens either way.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Generator, Iterator, Sequence
from typing import Any

import httpx
from langchain_core.messages import BaseMessage

from ..auth import IdTokenSource
from ..errors import ModelError, RagError
from .base import Delta, Finish, GenerationOptions, StreamItem, Target, TargetStatus
from .http import TIMEOUT, HttpTarget, json_of
from .ollama import CloudRunTarget

OLLAMA, OPENAI = "ollama", "openai"
_SDK_HEADERS = ("Authorization", "OpenAI-Organization", "OpenAI-Project")
_NO_KEY = "unused"  # the SDK insists on a key; _ServerAuth removes it before anything is sent


class _ServerAuth(httpx.Auth):
    """Drops what the OpenAI SDK adds for api.openai.com (key, organisation, project), then
    applies this target's own auth, if any: no OpenAI credential from the environment ever
    reaches another server."""

    requires_request_body = True  # an inner IdTokenAuth resends the body on a 401

    def __init__(self, inner: httpx.Auth | None) -> None:
        self.inner = inner

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        for name in _SDK_HEADERS:
            request.headers.pop(name, None)
        if self.inner is None:
            yield request
        else:
            yield from self.inner.auth_flow(request)


class OpenAITarget(HttpTarget):
    kind = OPENAI
    default_model = ""  # the first model the server lists

    def __init__(self, url: str, **kwargs: Any) -> None:
        url = url.rstrip("/")
        super().__init__(url[: -len("/v1")] if url.endswith("/v1") else url, **kwargs)
        self._models: list[str] | None = None
        self._lock = threading.Lock()

    @property
    def label(self) -> str:
        return f"OpenAI-compatible server at {self.url}"

    def client_kwargs(
        self,
        *,
        retrying: bool = True,
        timeout: httpx.Timeout | float = TIMEOUT,
        connections: int | None = None,
    ) -> dict[str, Any]:
        kwargs = super().client_kwargs(retrying=retrying, timeout=timeout, connections=connections)
        return {**kwargs, "auth": _ServerAuth(self.auth)}

    def models(self) -> list[str]:
        """The served model ids (`GET /v1/models`), asked once."""
        with self._lock:
            if self._models is None:
                with self.client() as client:
                    body = json_of(client.get("/v1/models"))
                data = body.get("data") if isinstance(body, dict) else None
                self._models = [str(m.get("id", "")) for m in data or [] if isinstance(m, dict)]
            return list(self._models)

    def model_name(self, model: str = "") -> str:
        if model:
            return model
        models = self.models()
        if not models:
            raise ModelError(f"{self.where()} serves no model.", "Start the server with a model loaded.")
        return models[0]

    def chat_model(self, model: str = "", options: GenerationOptions | None = None) -> Any:
        from langchain_openai import ChatOpenAI
        from pydantic import SecretStr

        options = options or GenerationOptions()
        return ChatOpenAI(
            model=self.model_name(model),
            base_url=f"{self.url}/v1",
            api_key=SecretStr(_NO_KEY),
            http_client=httpx.Client(**self.client_kwargs()),
            # the async client ChatOpenAI would build loads the CA bundle on every question,
            # and would send no bearer token
            http_async_client=httpx.AsyncClient(**self.async_client_kwargs()),
            max_retries=0,  # RetryTransport retries, in one place for every target
            max_tokens=options.max_tokens,  # sent as max_completion_tokens, OpenAI's current name
            extra_body={"max_tokens": options.max_tokens},  # the name llama.cpp's server reads
            temperature=options.temperature,
            stop=list(options.stop) or None,
            stream_usage=True,  # token counts in the last chunk
        )

    def stream(
        self, messages: Sequence[BaseMessage], model: str = "", options: GenerationOptions | None = None
    ) -> Iterator[StreamItem]:
        try:
            name = self.model_name(model)
            chat = self.chat_model(name, options)
            usage: dict[str, Any] = {}
            reason, pieces = None, 0
            with contextlib.closing(chat.stream(list(messages))) as chunks:
                for chunk in chunks:
                    if chunk.content:
                        pieces += 1
                        yield Delta(str(chunk.content))
                    meta = chunk.response_metadata or {}
                    reason = meta.get("finish_reason") or reason
                    name = meta.get("model_name") or name
                    usage = dict(chunk.usage_metadata or {}) or usage
        except Exception as exc:
            raise self.translate(exc, model) from None
        yield Finish(
            model=name,
            output_tokens=usage.get("output_tokens") or pieces,
            prompt_tokens=usage.get("input_tokens"),
            done_reason=reason,
        )

    def check(self, model: str = "") -> TargetStatus:
        try:
            models = self.models()
            model = self.model_name(model)
        except Exception as exc:
            error = self.translate(exc, model)
            return TargetStatus(False, self.label, model, error.message, error.fix)
        if model not in models:
            error = self.status_error(404, "model not found", model)
            return TargetStatus(
                False, self.label, model, error.message, self.missing_model_fix(model), models
            )
        return TargetStatus(
            True, self.label, model, f"{model} answers at {self.url} (OpenAI-compatible API).", "", models
        )

    # Errors -----------------------------------------------------------------

    def where(self) -> str:
        return f"The OpenAI-compatible server at {self.url}"

    def missing_model_fix(self, model: str) -> str:
        served = ", ".join(self._models or []) or "see GET /v1/models"
        return f"Use a model the server serves ({served}), or leave the model empty for its first."

    def auth_fix(self) -> str:
        return "Set OPENAI_BEARER_TOKEN to the token the server expects."

    def status_of(self, exc: BaseException) -> tuple[int, str]:
        import openai

        if isinstance(exc, openai.APIStatusError):
            return exc.status_code, _sdk_message(exc)
        return super().status_of(exc)

    def translate(self, exc: BaseException, model: str) -> RagError:
        import openai

        if isinstance(exc, openai.APIConnectionError):  # the SDK wraps httpx's own errors
            cause = exc.__cause__
            timeout = httpx.ReadTimeout(str(exc)) if isinstance(exc, openai.APITimeoutError) else None
            exc = cause if isinstance(cause, httpx.HTTPError) else timeout or httpx.ConnectError(str(exc))
        return super().translate(exc, model)


def _sdk_message(exc: Any) -> str:
    body = exc.body
    if isinstance(body, dict):
        message = body.get("message", body.get("detail", body.get("error")))
        if isinstance(message, dict):
            message = message.get("message", message)
        if message:
            return str(message)[:500]
    return str(exc.message)[:500]


def detect_api(target: HttpTarget) -> str:
    """OLLAMA or OPENAI, asked through the target's client (auth, retries); RagError if neither."""
    with target.client() as client:
        for path, key, api in (("/api/version", "version", OLLAMA), ("/v1/models", "data", OPENAI)):
            response = client.get(path)
            if response.status_code == 200 and _has_key(response, key):
                return api
            if response.status_code in (401, 403, 429) or response.status_code >= 500:
                response.raise_for_status()  # refused or down says more than "not this API"
    raise ModelError(
        f"{target.where()} speaks neither Ollama's API nor an OpenAI-compatible one.",
        "Check the URL: it should be the model server's base URL, without a path.",
    )


def _has_key(response: httpx.Response, key: str) -> bool:
    try:
        body = response.json()
    except ValueError:
        return False
    return isinstance(body, dict) and key in body


class CloudRunService(CloudRunTarget):
    """A private Cloud Run service running Ollama or an OpenAI-compatible server (vLLM).

    Which one is asked on first use and remembered; until it is known, and for Ollama,
    this is the Ollama target (so embeddings and the tuner can use it as one). A failed
    detection is not remembered: the next call asks again.
    """

    def __init__(self, url: str, *, source: IdTokenSource | None = None, **kwargs: Any) -> None:
        super().__init__(url, source=source, **kwargs)
        self._api: str | None = None
        self._openai: OpenAITarget | None = None
        self._detect_lock = threading.Lock()

    def api(self) -> str:
        with self._detect_lock:
            if self._api is None:
                try:
                    api = detect_api(self)
                except Exception as exc:
                    raise self.translate(exc, "") from None
                if api == OPENAI:
                    self._openai = openai_twin(self)
                self._api = api
            return self._api

    def _delegate(self) -> Target | None:
        return self._openai if self.api() == OPENAI else None

    def chat_model(self, model: str = "", options: GenerationOptions | None = None) -> Any:
        delegate = self._delegate()
        return delegate.chat_model(model, options) if delegate else super().chat_model(model, options)

    def stream(
        self, messages: Sequence[BaseMessage], model: str = "", options: GenerationOptions | None = None
    ) -> Iterator[StreamItem]:
        delegate = self._delegate()
        yield from (
            delegate.stream(messages, model, options)
            if delegate
            else super().stream(messages, model, options)
        )

    def check(self, model: str = "") -> TargetStatus:
        try:
            delegate = self._delegate()
        except RagError as error:
            return TargetStatus(False, self.label, model or self.default_model, error.message, error.fix)
        return delegate.check(model) if delegate else super().check(model)


def openai_twin(target: HttpTarget) -> OpenAITarget:
    """The OpenAI-compatible side of `target`'s URL: its auth and retries, its fixes."""
    return _Twin(target)


class _Twin(OpenAITarget):
    def __init__(self, origin: HttpTarget) -> None:
        super().__init__(origin.url, auth=origin.auth, retries=origin.retries, backoff=origin.backoff)
        self.origin = origin

    @property
    def label(self) -> str:
        if isinstance(self.origin, CloudRunTarget):
            return f"Cloud Run service {self.url} (OpenAI-compatible)"
        return super().label

    def where(self) -> str:
        return self.origin.where() if isinstance(self.origin, CloudRunTarget) else super().where()

    def unreachable_fix(self) -> str:
        cloud_run = isinstance(self.origin, CloudRunTarget)
        return self.origin.unreachable_fix() if cloud_run else super().unreachable_fix()

    def auth_fix(self) -> str:
        return self.origin.auth_fix()  # the credentials are the origin's
