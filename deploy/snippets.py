"""The test call: the notebook's curl and Python examples, as text and runnable.

api="openai" (a vLLM service) asks /v1/chat/completions instead of Ollama's /api/generate."""

from __future__ import annotations

import json
import shlex
import time
from dataclasses import dataclass
from typing import Any

import httpx
from google.auth.credentials import Credentials
from google.oauth2 import service_account

from rag.auth import IdTokenSource
from rag.errors import RagError

DEFAULT_PROMPT = "Why is the sky blue? Answer in one sentence."


PATHS = {"ollama": "/api/generate", "openai": "/v1/chat/completions"}
ANSWERS = {"ollama": '["response"]', "openai": '["choices"][0]["message"]["content"]'}


def _payload(model: str, prompt: str, api: str = "ollama") -> dict[str, Any]:
    if api == "openai":
        return {"model": model, "messages": [{"role": "user", "content": prompt}], "max_tokens": 256}
    return {"model": model, "prompt": prompt, "stream": False}


def curl_snippet(url: str, model: str, prompt: str = DEFAULT_PROMPT, api: str = "ollama") -> str:
    """Works for people: gcloud prints an ID token Cloud Run accepts."""
    body = json.dumps(_payload(model, prompt, api))
    return (
        'TOKEN="$(gcloud auth print-identity-token)"\n'
        f"curl -sS {shlex.quote(url + PATHS[api])} \\\n"
        '  -H "Authorization: Bearer ${TOKEN}" \\\n'
        "  -H 'Content-Type: application/json' \\\n"
        f"  -d {shlex.quote(body)}\n"
    )


def python_snippet(url: str, model: str, prompt: str = DEFAULT_PROMPT, api: str = "ollama") -> str:
    """Works for service accounts (GOOGLE_APPLICATION_CREDENTIALS, Cloud Run, Colab VMs)."""
    return f"""import google.auth.transport.requests
import google.oauth2.id_token
import requests

url = {url!r}
# An ID token whose audience is the service URL proves to Cloud Run who is calling.
token = google.oauth2.id_token.fetch_id_token(google.auth.transport.requests.Request(), url)
response = requests.post(
    f"{{url}}{PATHS[api]}",
    headers={{"Authorization": f"Bearer {{token}}"}},
    json={_payload(model, prompt, api)!r},
    timeout=300,
)
response.raise_for_status()
print(response.json(){ANSWERS[api]})
"""


def id_token_source(audience: str, credentials: Credentials | None = None) -> IdTokenSource:
    """The ID tokens for `audience`: the same credential chain the chat uses (rag.auth).

    Explicit service-account credentials (tests, scripts) sign their own token and
    gcloud user credentials carry one; any other kind (e.g. the metadata server's,
    whose .token is an access token) is looked up again: a key file, gcloud user
    credentials or the metadata server, as rag.auth.discover_credentials documents.
    """
    from google.oauth2 import credentials as user_credentials

    if isinstance(credentials, service_account.Credentials):
        credentials = service_account.IDTokenCredentials(
            credentials.signer,
            credentials.service_account_email,
            credentials._token_uri,
            target_audience=audience,
        )
    elif not isinstance(credentials, user_credentials.Credentials):
        credentials = None
    return IdTokenSource(audience, credentials)


def id_token_for(audience: str, credentials: Credentials | None = None) -> str:
    """An ID token for `audience` (RagError when none can be had)."""
    return id_token_source(audience, credentials).token()


@dataclass(frozen=True)
class CallResult:
    status: int
    text: str
    seconds: float


def run_test_call(
    url: str,
    model: str,
    prompt: str = DEFAULT_PROMPT,
    *,
    credentials: Credentials | None = None,
    timeout: float = 300,
    api: str = "ollama",
) -> CallResult:
    """Do what the snippets show; the first call after a cold start is slow.

    Any answer is a result (its status and text); no answer is a RagError, a sentence and a
    fix, from the app's own Cloud Run target (the one request path to model servers)."""
    from rag.llms.ollama import CloudRunTarget  # langchain's import is slow: only when called

    source = id_token_source(url, credentials)
    target = CloudRunTarget(url, source=source)
    try:
        source.token()  # before the clock starts: the time shown is the service's
        started = time.monotonic()
        with target.client(retrying=False, timeout=timeout) as client:
            resp = client.post(PATHS[api], json=_payload(model, prompt, api))
    except (httpx.HTTPError, RagError) as exc:
        raise target.translate(exc, model) from None
    elapsed = time.monotonic() - started
    try:
        text = _answer(resp.json(), api) if resp.is_success else resp.text
    except (ValueError, KeyError, IndexError, TypeError):
        text = resp.text
    return CallResult(resp.status_code, text, elapsed)


def _answer(body: dict[str, Any], api: str) -> str:
    return body["choices"][0]["message"]["content"] if api == "openai" else body["response"]
