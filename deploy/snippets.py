"""The test call: the notebook's curl and Python examples, as text and runnable.

api="openai" (a vLLM service) asks /v1/chat/completions instead of Ollama's /api/generate."""

from __future__ import annotations

import json
import shlex
import time
from dataclasses import dataclass

import requests
from google.oauth2 import service_account

DEFAULT_PROMPT = "Why is the sky blue? Answer in one sentence."


PATHS = {"ollama": "/api/generate", "openai": "/v1/chat/completions"}
ANSWERS = {"ollama": '["response"]', "openai": '["choices"][0]["message"]["content"]'}


def _payload(model: str, prompt: str, api: str = "ollama") -> dict:
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


def id_token_for(audience: str, credentials=None) -> str:
    """An ID token for `audience`: the same credential chain the chat uses (rag.auth).

    Explicit service-account credentials (tests, scripts) sign their own token and
    gcloud user credentials carry one; any other kind (e.g. the metadata server's,
    whose .token is an access token) is looked up again: a key file, gcloud user
    credentials or the metadata server, as rag.auth.discover_credentials documents.
    """
    from google.oauth2 import credentials as user_credentials

    from rag.auth import IdTokenSource

    if isinstance(credentials, service_account.Credentials):
        credentials = service_account.IDTokenCredentials(
            credentials.signer,
            credentials.service_account_email,
            credentials._token_uri,
            target_audience=audience,
        )
    elif not isinstance(credentials, user_credentials.Credentials):
        credentials = None
    return IdTokenSource(audience, credentials).token()


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
    credentials=None,
    timeout: float = 300,
    api: str = "ollama",
) -> CallResult:
    """Do what the snippets show; the first call after a cold start is slow."""
    token = id_token_for(url, credentials)
    started = time.monotonic()
    resp = requests.post(
        f"{url}{PATHS[api]}",
        json=_payload(model, prompt, api),
        timeout=timeout,
        headers={"Authorization": f"Bearer {token}"},
    )
    elapsed = time.monotonic() - started
    try:
        text = _answer(resp.json(), api) if resp.ok else resp.text
    except (ValueError, KeyError, IndexError, TypeError):
        text = resp.text
    return CallResult(resp.status_code, text, elapsed)


def _answer(body: dict, api: str) -> str:
    return body["choices"][0]["message"]["content"] if api == "openai" else body["response"]
