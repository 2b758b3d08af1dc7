"""Ollama targets: any Ollama URL, or a private Ollama service on Cloud Run.

Chat goes through `langchain-ollama`'s ChatOllama (the maintained home of the
notebook's ChatOllama). Its `client_kwargs` go to httpx, so authentication is an
`httpx.Auth` (a Google ID token for Cloud Run, refreshed before expiry and once
more on a 401; or a fixed bearer token), and cold-start retries are a transport.
Ollama's errors are unpacked here (`status_of`); the sentences are `HttpTarget.translate()`'s
(http.py), shared with the OpenAI-compatible target.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

from langchain_core.messages import BaseMessage

from ..auth import BearerAuth, IdTokenAuth, IdTokenSource
from .base import Delta, Finish, GenerationOptions, StreamItem, TargetStatus
from .http import HttpTarget, json_of, ssl_context


def default_model() -> str:
    """The one default: the Deploy page's model, which deploy/fit.py picks (docs/decisions.md)."""
    from deploy.catalog import DEFAULT_MODEL

    return DEFAULT_MODEL


class OllamaTarget(HttpTarget):
    kind = "ollama"

    @property
    def default_model(self) -> str:
        return default_model()

    @property
    def label(self) -> str:
        return f"Ollama at {self.url}"

    def chat_model(self, model: str = "", options: GenerationOptions | None = None) -> Any:
        from langchain_ollama import ChatOllama

        options = options or GenerationOptions()
        kwargs = self.client_kwargs()
        transport = kwargs.pop("transport")
        return ChatOllama(
            model=model or self.default_model,
            base_url=self.url,
            num_predict=options.max_tokens,
            temperature=options.temperature,
            repeat_penalty=options.repeat_penalty,
            stop=list(options.stop) or None,
            client_kwargs=kwargs,
            sync_client_kwargs={"transport": transport},  # sync only: httpx.AsyncClient needs its own
            # ChatOllama also builds an async client; without a context it would load the CA
            # bundle on every question, holding the GIL the app's other sessions need.
            async_client_kwargs={"verify": ssl_context()},
        )

    def stream(
        self, messages: Sequence[BaseMessage], model: str = "", options: GenerationOptions | None = None
    ) -> Iterator[StreamItem]:
        model = model or self.default_model
        chat = self.chat_model(model, options)
        try:
            for chunk in chat.stream(list(messages)):
                if chunk.content:
                    yield Delta(str(chunk.content))
                meta = chunk.response_metadata or {}
                if meta.get("done"):
                    usage = chunk.usage_metadata or {}
                    eval_ns = meta.get("eval_duration")
                    yield Finish(
                        model=meta.get("model_name") or model,
                        output_tokens=usage.get("output_tokens", meta.get("eval_count")),
                        prompt_tokens=usage.get("input_tokens", meta.get("prompt_eval_count")),
                        done_reason=meta.get("done_reason"),
                        eval_seconds=eval_ns / 1e9 if eval_ns else None,
                    )
        except Exception as exc:
            raise self.translate(exc, model) from None

    def check(self, model: str = "") -> TargetStatus:
        model = model or self.default_model
        try:
            with self.client() as client:
                version = json_of(client.get("/api/version")).get("version", "")
                models = [m.get("name", "") for m in json_of(client.get("/api/tags")).get("models", [])]
        except Exception as exc:
            error = self.translate(exc, model)
            return TargetStatus(False, self.label, model, error.message, error.fix)
        if not _has_model(models, model):
            error = self.translate(_not_found(model), model)
            return TargetStatus(False, self.label, model, error.message, error.fix, models, version)
        return TargetStatus(
            True, self.label, model, f"{model} answers at {self.url} (Ollama {version}).", "", models, version
        )

    # Errors -----------------------------------------------------------------

    def where(self) -> str:
        return f"Ollama at {self.url}"

    def unreachable_fix(self) -> str:
        return "Check that Ollama is running there (`ollama serve`) and that the URL and port are right."

    def missing_model_fix(self, model: str) -> str:
        return f"Pull it on that server: `ollama pull {model}` (or pick a model it has)."

    def status_of(self, exc: BaseException) -> tuple[int, str]:
        import ollama

        if isinstance(exc, ollama.ResponseError):
            return exc.status_code, str(exc.error)
        return super().status_of(exc)

    def auth_fix(self) -> str:
        return "Set OLLAMA_BEARER_TOKEN to the token your proxy expects."


class CloudRunTarget(OllamaTarget):
    """Ollama on a private Cloud Run service: every request carries a Google ID token."""

    kind = "cloudrun"

    def __init__(self, url: str, *, source: IdTokenSource | None = None, **kwargs: Any) -> None:
        self.source = source or IdTokenSource(url)
        super().__init__(url, auth=IdTokenAuth(self.source), **kwargs)

    @property
    def label(self) -> str:
        return f"Cloud Run service {self.url}"

    def where(self) -> str:
        return f"The Cloud Run service {self.url}"

    def unreachable_fix(self) -> str:
        return "Check the service URL (`gcloud run services describe SERVICE --format='value(status.url)'`)."

    def missing_model_fix(self, model: str) -> str:
        return f"Deploy an image with {model} baked in (Deploy page), or pick the model the service has."

    def auth_fix(self) -> str:
        return (
            "Grant your account or the app's service account roles/run.invoker on the service, "
            "and log in with `gcloud auth application-default login`."
        )


def bearer_target(url: str, token: str = "", **kwargs: Any) -> OllamaTarget:
    return OllamaTarget(url, auth=BearerAuth(token) if token else None, **kwargs)


def _has_model(models: list[str], model: str) -> bool:
    wanted = model if ":" in model else f"{model}:latest"
    return model in models or wanted in models


def _not_found(model: str) -> Exception:
    import ollama

    return ollama.ResponseError(f'model "{model}" not found, try pulling it first', 404)
