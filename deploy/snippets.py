"""The test call: the notebook's curl and Python examples, as text and runnable."""

from __future__ import annotations

import json
import shlex
import shutil
import subprocess
import time
from dataclasses import dataclass

import google.auth.transport.requests
import google.oauth2.credentials
import google.oauth2.id_token
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
    """An ID token for `audience` from the given (or ambient) credentials.

    Service-account keys sign one themselves; gcloud user credentials carry one
    (Cloud Run accepts it); otherwise the metadata server issues one (Cloud Run).
    """
    request = google.auth.transport.requests.Request()
    if isinstance(credentials, service_account.Credentials):
        id_creds = service_account.IDTokenCredentials(
            credentials.signer, credentials.service_account_email,
            credentials._token_uri, target_audience=audience)
        id_creds.refresh(request)
        return id_creds.token
    if isinstance(credentials, google.oauth2.credentials.Credentials):  # a person
        token = _gcloud_identity_token()
        if token:
            return token
        credentials.refresh(request)
        if credentials.id_token:
            return credentials.id_token
    return google.oauth2.id_token.fetch_id_token(request, audience)


def _gcloud_identity_token() -> str | None:
    """What the curl snippet uses; Cloud Run accepts gcloud's user ID tokens."""
    if not shutil.which("gcloud"):
        return None
    try:
        out = subprocess.run(["gcloud", "auth", "print-identity-token"], capture_output=True,
                             text=True, timeout=60, check=True)
    except (subprocess.SubprocessError, OSError):
        return None
    return out.stdout.strip() or None


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
