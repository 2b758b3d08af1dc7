"""Hosting the workshop UI itself on Cloud Run.

- deploy_page_access(): hosted mode is safe by default; the Deploy page is off
  unless an admin secret is configured and entered.
- The UI service: CPU only, session affinity (Streamlit keeps one websocket per
  session and its state lives in one instance), the maximum request timeout
  (3600 s bounds a websocket's life), one cookie secret for every instance, and
  its own service account holding run.invoker on the Ollama service, so the app
  gets ID tokens from the metadata server.
"""

from __future__ import annotations

import contextlib
import hmac
import secrets as pysecrets
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field

from deploy import cloudrun, iam, operations
from deploy.api import ApiRequest
from deploy.config import DeployConfig
from deploy.errors import AlreadyExistsError, DeployError, NotFoundError
from deploy.events import Done, Event, Failed, StepFinished, StepStarted
from deploy.http import GoogleHttp

ADMIN_SECRET = "DEPLOY_ADMIN_SECRET"
HOSTED_FLAG = "WORKSHOP_HOSTED"
UI_TIMEOUT_S = 3600  # Cloud Run's maximum; a websocket lives at most this long


@dataclass(frozen=True)
class DeployAccess:
    enabled: bool
    reason: str
    needs_secret: bool = False  # show a password box on the page


def is_hosted(env: Mapping[str, str]) -> bool:
    """Cloud Run sets K_SERVICE; WORKSHOP_HOSTED=1 forces hosted mode elsewhere."""
    return bool(env.get("K_SERVICE")) or env.get(HOSTED_FLAG, "").lower() in ("1", "true", "yes")


def deploy_page_access(env: Mapping[str, str], secrets: Mapping | None = None,
                       supplied: str | None = None) -> DeployAccess:
    """Whether the Deploy page may be used (env: os.environ; secrets: st.secrets)."""
    if not is_hosted(env):
        return DeployAccess(True, "Running locally: deploys use your own Google credentials.")
    expected = _lookup(secrets, ADMIN_SECRET) or env.get(ADMIN_SECRET)
    if not expected:
        return DeployAccess(False, "The Deploy page is off on this hosted app. An admin "
                            f"enables it by setting the {ADMIN_SECRET} secret.")
    if not supplied:
        return DeployAccess(False, "Enter the admin secret to use the Deploy page.", True)
    if hmac.compare_digest(supplied.encode(), str(expected).encode()):
        return DeployAccess(True, "Admin secret accepted.")
    return DeployAccess(False, "That admin secret is not right.", True)


def _lookup(secrets: Mapping | None, key: str):
    try:  # st.secrets raises when no secrets file exists
        return secrets.get(key) if secrets is not None else None
    except Exception:
        return None


# The UI service -------------------------------------------------------------------


@dataclass(frozen=True)
class UiConfig:
    project: str
    region: str
    image: str  # built from the repository's Dockerfile
    ollama: DeployConfig  # the GPU service the UI calls
    ollama_url: str = ""
    service: str = "workshop-ui"
    account_id: str = "workshop-ui"
    cookie_secret_name: str | None = None  # Secret Manager secret; else a generated value
    admin_secret_name: str | None = None  # Secret Manager secret enabling the Deploy page
    cpu: str = "2"
    memory: str = "4Gi"
    max_instances: int = 3
    public: bool = True  # attendees open it in a browser without Google sign-in
    env: dict = field(default_factory=dict)

    @property
    def account_email(self) -> str:
        return iam.service_account_email(self.project, self.account_id)

    @property
    def name(self) -> str:
        return f"projects/{self.project}/locations/{self.region}/services/{self.service}"


def _secret_env(name: str, secret: str) -> dict:
    return {"name": name, "valueSource": {"secretKeyRef": {"secret": secret,
                                                            "version": "latest"}}}


def ui_env(ui: UiConfig) -> list[dict]:
    # The app's own settings (rag/settings.py): chat with the private Ollama service.
    env = [{"name": HOSTED_FLAG, "value": "1"},
           {"name": "RAG_LLM", "value": f"cloudrun:{ui.ollama_url}"},
           {"name": "RAG_MODEL", "value": ui.ollama.model}]
    env += [{"name": k, "value": str(v)} for k, v in ui.env.items()]
    cookie = "STREAMLIT_SERVER_COOKIE_SECRET"  # server.cookieSecret, same on every instance
    env.append(_secret_env(cookie, ui.cookie_secret_name) if ui.cookie_secret_name
               else {"name": cookie, "value": pysecrets.token_urlsafe(32)})
    if ui.admin_secret_name:
        env.append(_secret_env(ADMIN_SECRET, ui.admin_secret_name))
    return env


def ui_service_body(ui: UiConfig, *, with_name: bool = False) -> dict:
    container = {
        "name": "streamlit", "image": ui.image,
        "ports": [{"name": "http1", "containerPort": 8080}],
        "env": ui_env(ui),
        "resources": {"limits": {"cpu": ui.cpu, "memory": ui.memory}, "startupCpuBoost": True},
        "startupProbe": {"httpGet": {"path": "/_stcore/health", "port": 8080},
                         "periodSeconds": 5, "timeoutSeconds": 3, "failureThreshold": 24},
    }
    body = {
        "labels": {"managed-by": "workshop-deploy"},
        "ingress": "INGRESS_TRAFFIC_ALL",
        "invokerIamDisabled": ui.public,
        "template": {
            "containers": [container],
            "serviceAccount": ui.account_email,
            "sessionAffinity": True,
            "timeout": f"{UI_TIMEOUT_S}s",
            "maxInstanceRequestConcurrency": 80,
            "scaling": {"minInstanceCount": 0, "maxInstanceCount": ui.max_instances},
        },
    }
    return {"name": ui.name, **body} if with_name else body


def ui_requests(ui: UiConfig) -> list[ApiRequest]:
    """The hosting plan, in order (validated like the GPU deploy's)."""
    parent = f"projects/{ui.project}/locations/{ui.region}"
    policy, _ = cloudrun.with_invoker({"etag": "BwYAAAAAAAA="},
                                      [f"serviceAccount:{ui.account_email}"])
    return [
        iam.get_service_account(ui.project, ui.account_email),
        iam.create_service_account(ui.project, ui.account_id, "Workshop UI"),
        cloudrun.get_iam_policy(ui.ollama),
        cloudrun.set_iam_policy(ui.ollama, policy),
        ApiRequest("run", "v2", "GET", f"v2/{ui.name}", purpose="Does the UI service exist?"),
        ApiRequest("run", "v2", "POST", f"v2/{parent}/services",
                   params=(("serviceId", ui.service),), body=ui_service_body(ui),
                   purpose="Create the UI service", when="if it does not exist"),
        ApiRequest("run", "v2", "PATCH", f"v2/{ui.name}", body=ui_service_body(ui, with_name=True),
                   purpose="Update the UI service", when="if it exists"),
    ]


def deploy_ui(ui: UiConfig, http: GoogleHttp, *, poll_interval: float = 5.0,
              sleep=time.sleep) -> Iterator[Event]:
    """Create the UI's account, let it invoke Ollama, deploy the UI; yields events."""
    reqs = ui_requests(ui)
    step = "ui-account"
    try:
        yield StepStarted(step, "The UI's service account")
        try:
            http.send(reqs[0])
        except NotFoundError:
            with contextlib.suppress(AlreadyExistsError):
                http.send(reqs[1])
        yield StepFinished(step, "The UI's service account", ui.account_email)
        step = "ui-invoker"
        yield StepStarted(step, "Let the UI call Ollama")
        cloudrun.grant_invoker(http, ui.ollama, [f"serviceAccount:{ui.account_email}"])
        yield StepFinished(step, "Let the UI call Ollama", f"{cloudrun.INVOKER} on "
                           f"{ui.ollama.service_name}")
        step = "ui-service"
        yield StepStarted(step, "Deploy the UI service")
        try:
            http.send(reqs[4])
            op = http.send(reqs[6])
        except NotFoundError:
            op = http.send(reqs[5])
        service = yield from operations.wait(http, op, api="run", version="v2", sleep=sleep,
                                             interval=poll_interval)
        yield StepFinished(step, "Deploy the UI service", service.get("uri", ""))
        yield Done(service.get("uri", ""), ui.service)
    except DeployError as err:
        yield Failed(step, err.message, err.fix, err.kind)
