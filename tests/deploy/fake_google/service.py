"""The deployed service at /svc/<name>: Ollama, or vLLM's OpenAI API for an engine=vllm service."""

from __future__ import annotations

import json
from typing import Any

from google.auth import jwt

from deploy.config import model_slug

from .common import Reply, now


class DeployedService:
    def _embed(self, body: dict) -> Reply:
        """Ollama's /api/embed for the image's embedding model: one vector per input."""
        self.embed_calls.append(body)
        if body.get("model", "").removesuffix(":latest") != "embeddinggemma":
            return Reply(404, {"error": f"model '{body.get('model')}' not found"})
        texts = body["input"] if isinstance(body.get("input"), list) else [body.get("input", "")]
        vectors = [[float(len(t) % 7), 1.0, 0.5] for t in texts]
        return Reply(200, {"model": body["model"], "embeddings": vectors, "prompt_eval_count": 1})

    def _openai(self, name: str, sub: str, body: dict) -> Reply:
        """vLLM's OpenAI-compatible server: it starts only if it could read its token."""
        service = self.services[name]
        self.openai_calls.append((sub, body))
        if missing := _unreadable_secrets(self, service):
            return Reply(503, {"error": f"container failed to start: secret {missing[0]} permission denied"})
        with self.lock:
            if self.service_busy_calls > 0:
                self.service_busy_calls -= 1
                return Reply(503, {"error": "The service is starting; no instance available."})
        served = _served_model(service)
        if sub == "v1/models":
            return Reply(
                200, {"object": "list", "data": [{"id": served, "object": "model", "owned_by": "vllm"}]}
            )
        if sub != "v1/chat/completions":
            return Reply(404, {"detail": "Not Found"})
        if body.get("model") != served:
            return Reply(
                404,
                {
                    "error": {
                        "message": f"The model `{body.get('model')}` does not exist.",
                        "type": "NotFoundError",
                        "code": 404,
                    }
                },
            )
        return Reply(
            200,
            {
                "id": "chatcmpl-1",
                "object": "chat.completion",
                "model": served,
                "choices": [
                    {
                        "index": 0,
                        "finish_reason": "length",
                        "message": {"role": "assistant", "content": "Hello"},
                    }
                ],
                "usage": {"prompt_tokens": 9, "completion_tokens": 1, "total_tokens": 10},
            },
        )

    def _service_call(self, h, rest: str, raw: bytes) -> Reply:
        service_id, _, sub = rest.partition("/")
        name = next((n for n in self.services if n.endswith(f"/services/{service_id}")), None)
        if name is None:
            return Reply(404, {"error": "Page not found"})
        audience = self.services[name]["uri"]
        token = h.headers.get("Authorization", "").removeprefix("Bearer ")
        try:
            claims = jwt.decode(token, certs=self.server_public_pem, audience=audience)
        except ValueError:
            return Reply(401, {"error": "Your client does not have permission (bad ID token)."})
        invoker = "run.routes.invoke" not in self.denied  # e.g. an owner: no binding needed
        if not invoker and f"serviceAccount:{claims['email']}" not in self.invokers(name):
            return Reply(403, {"error": "Your client does not have permission to invoke it."})
        body = json.loads(raw or b"{}")
        if self.services[name]["labels"].get("engine") == "vllm":
            return self._openai(name, sub, body)
        if sub == "api/embed":  # the embedding model baked next to the chat model
            return self._embed(body)
        self.generate_calls.append(body)
        with self.lock:
            if self.service_busy_calls > 0:
                self.service_busy_calls -= 1
                return Reply(503, {"error": "The service is starting; no instance available."})
        if (
            sub != "api/generate"
            or model_slug(body.get("model", "")) != self.services[name]["labels"]["model"]
        ):
            return Reply(404, {"error": f"model '{body.get('model')}' not found"})
        if not self.model_loads:
            return Reply(
                500,
                {"error": "llama runner process has terminated: cudaMalloc failed: out of memory"},
            )
        return Reply(
            200,
            {
                "model": body["model"],
                "created_at": now(),
                "done": True,
                "response": "Because air scatters blue light more than red.",
            },
        )


def _served_model(service: dict) -> str:
    args = service["template"]["containers"][0].get("args", [])
    return next((a.split("=", 1)[1] for a in args if a.startswith("--served-model-name=")), "")


def _unreadable_secrets(fake: Any, service: dict) -> list[str]:
    """Secrets the revision's env reads that its runtime account may not access."""
    account = (
        service["template"].get("serviceAccount")
        or f"{fake.project_number}-compute@developer.gserviceaccount.com"
    )
    refs = [
        e["valueSource"]["secretKeyRef"]["secret"]
        for e in service["template"]["containers"][0].get("env", [])
        if e.get("valueSource")
    ]
    return [
        s
        for s in refs
        if f"serviceAccount:{account}" not in fake.accessors(f"projects/{fake.project}/secrets/{s}")
    ]
