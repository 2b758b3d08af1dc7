"""The test call: the notebook's curl and Python examples, as text and runnable."""

from __future__ import annotations

import json
import shlex
import time
from dataclasses import dataclass

import requests
from google.oauth2 import service_account

DEFAULT_PROMPT = "Why is the sky blue? Answer in one sentence."


def _payload(model: str, prompt: str) -> dict:
    return {"model": model, "prompt": prompt, "stream": False}


def curl_snippet(url: str, model: str, prompt: str = DEFAULT_PROMPT) -> str:
    """Works for people: gcloud prints an ID token Cloud Run accepts."""
    body = json.dumps(_payload(model, prompt))
    return (
        'TOKEN="$(gcloud auth print-identity-token)"\n'
        f"curl -sS {shlex.quote(url + '/api/generate')} \\\n"
        '  -H "Authorization: Bearer ${TOKEN}" \\\n'
        "  -H 'Content-Type: application/json' \\\n"
        f"  -d {shlex.quote(body)}\n"
    )


def python_snippet(url: str, model: str, prompt: str = DEFAULT_PROMPT) -> str:
    """Works for service accounts (GOOGLE_APPLICATION_CREDENTIALS, Cloud Run, Colab VMs)."""
    return f'''import google.auth.transport.requests
import google.oauth2.id_token
import requests

url = {url!r}
# An ID token whose audience is the service URL proves to Cloud Run who is calling.
token = google.oauth2.id_token.fetch_id_token(google.auth.transport.requests.Request(), url)
response = requests.post(
    f"{{url}}/api/generate",
    headers={{"Authorization": f"Bearer {{token}}"}},
    json={_payload(model, prompt)!r},
    timeout=300,
)
response.raise_for_status()
print(response.json()["response"])
'''


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
            credentials.signer, credentials.service_account_email,
            credentials._token_uri, target_audience=audience)
    elif not isinstance(credentials, user_credentials.Credentials):
        credentials = None
    return IdTokenSource(audience, credentials).token()


@dataclass(frozen=True)
class CallResult:
    status: int
    text: str
    seconds: float


def run_test_call(url: str, model: str, prompt: str = DEFAULT_PROMPT, *, credentials=None,
                  timeout: float = 300) -> CallResult:
    """Do what the snippets show; the first call after a cold start is slow."""
    token = id_token_for(url, credentials)
    started = time.monotonic()
    resp = requests.post(f"{url}/api/generate", json=_payload(model, prompt), timeout=timeout,
                         headers={"Authorization": f"Bearer {token}"})
    elapsed = time.monotonic() - started
    try:
        text = resp.json().get("response", resp.text) if resp.ok else resp.text
    except ValueError:
        text = resp.text
    return CallResult(resp.status_code, text, elapsed)
