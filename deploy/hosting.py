"""Hosting the workshop UI itself on Cloud Run.

- deploy_page_access(): hosted mode is safe by default; the Deploy page is off
  unless an admin secret is configured and entered.
- The UI service: CPU only, session affinity (Streamlit keeps one websocket per
  session and its state lives in one instance), the maximum request timeout
  (3600 s bounds a websocket's life), one cookie secret for every instance, and
  its own service account holding run.invoker on the Ollama service, so the app
  gets ID tokens from the metadata server. Secrets referenced by the revision
  (cookie secret, admin secret) need Secret Manager on and secretAccessor for
  that account, or the revision fails to start.
- The leader's index (optional): a Cloud Storage bucket mounted read-only and
  RAG_INDEX pointing at the index file in it, so every session starts with it.
  The UI's account needs roles/storage.objectViewer on that bucket
  (`gcloud storage buckets add-iam-policy-binding`, docs/deploy.md).
"""

from __future__ import annotations

import contextlib
import hmac
import secrets as pysecrets
import time
from collections.abc import Generator, Iterator, Mapping
from dataclasses import dataclass, field

from rag.settings import HOSTED_FLAG, Settings

from . import cloudrun, iam, operations, secretmanager, serviceusage
from .api import ApiRequest
from .catalog import SECRET_MANAGER_API
from .config import MANAGED_LABELS, DeployConfig
from .errors import AlreadyExistsError, DeployError, NotFoundError
from .events import Done, Event, Failed, StepFinished, StepStarted
from .http import GoogleHttp

ADMIN_SECRET = "DEPLOY_ADMIN_SECRET"
UI_TIMEOUT_S = 3600  # Cloud Run's maximum; a websocket lives at most this long
INDEX_VOLUME = "leader-index"
INDEX_MOUNT = "/mnt/leader-index"


@dataclass(frozen=True)
class DeployAccess:
    enabled: bool
    reason: str
    needs_secret: bool = False  # show a password box on the page


def deploy_page_access(
    env: Mapping[str, str], secrets: Mapping | None = None, supplied: str | None = None
) -> DeployAccess:
    """Whether the Deploy page may be used (env: os.environ; secrets: st.secrets)."""
    return page_access(Settings.load(env, secrets), supplied)


def page_access(settings: Settings, supplied: str | None = None) -> DeployAccess:
    """The Deploy page's gate, from the settings (WORKSHOP_HOSTED, DEPLOY_ADMIN_SECRET)."""
    if not settings.hosted:
        return DeployAccess(True, "Running locally: deploys use your own Google credentials.")
    expected = settings.deploy_admin_secret
    if not expected:
        return DeployAccess(
            False,
            "The Deploy page is off on this hosted app. An admin "
            f"enables it by setting the {ADMIN_SECRET} secret.",
        )
    if not supplied:
        return DeployAccess(False, "Enter the admin secret to use the Deploy page.", True)
    if hmac.compare_digest(supplied.encode(), expected.encode()):
        return DeployAccess(True, "Admin secret accepted.")
    return DeployAccess(False, "That admin secret is not right.", True)


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
    index_bucket: str | None = None  # a bucket holding the leader's index, mounted read-only
    index_file: str = "index.ragidx"  # the index's object name in that bucket

    @property
    def account_email(self) -> str:
        return iam.service_account_email(self.project, self.account_id)

    @property
    def name(self) -> str:
        return f"projects/{self.project}/locations/{self.region}/services/{self.service}"


def _secret_env(name: str, secret: str) -> dict:
    return {"name": name, "valueSource": {"secretKeyRef": {"secret": secret, "version": "latest"}}}


def ui_env(ui: UiConfig) -> list[dict]:
    # The app's own settings (rag/settings.py): chat with the private Ollama service.
    env = [
        {"name": HOSTED_FLAG, "value": "1"},
        {"name": "RAG_LLM", "value": f"cloudrun:{ui.ollama_url}"},
        {"name": "RAG_MODEL", "value": ui.ollama.model},
    ]
    env += [{"name": k, "value": str(v)} for k, v in ui.env.items()]
    cookie = "STREAMLIT_SERVER_COOKIE_SECRET"  # server.cookieSecret, same on every instance
    env.append(
        _secret_env(cookie, ui.cookie_secret_name)
        if ui.cookie_secret_name
        else {"name": cookie, "value": pysecrets.token_urlsafe(32)}
    )
    if ui.admin_secret_name:
        env.append(_secret_env(ADMIN_SECRET, ui.admin_secret_name))
    if ui.index_bucket:
        env.append({"name": "RAG_INDEX", "value": f"{INDEX_MOUNT}/{ui.index_file.lstrip('/')}"})
    return env


def ui_service_body(ui: UiConfig, *, with_name: bool = False) -> dict:
    container = {
        "name": "streamlit",
        "image": ui.image,
        "ports": [{"name": "http1", "containerPort": 8080}],
        "env": ui_env(ui),
        "resources": {"limits": {"cpu": ui.cpu, "memory": ui.memory}, "startupCpuBoost": True},
        "startupProbe": {
            "httpGet": {"path": "/_stcore/health", "port": 8080},
            "periodSeconds": 5,
            "timeoutSeconds": 3,
            "failureThreshold": 24,
        },
    }
    if ui.index_bucket:
        container["volumeMounts"] = [{"name": INDEX_VOLUME, "mountPath": INDEX_MOUNT}]
    body = {
        "labels": dict(MANAGED_LABELS),
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
    if ui.index_bucket:
        body["template"]["volumes"] = [
            {"name": INDEX_VOLUME, "gcs": {"bucket": ui.index_bucket, "readOnly": True}}
        ]
    return {"name": ui.name, **body} if with_name else body


def secret_names(ui: UiConfig) -> list[str]:
    """Secret Manager secrets the revision reads through secretKeyRef."""
    return [s for s in (ui.cookie_secret_name, ui.admin_secret_name) if s]


def _get_service(ui: UiConfig) -> ApiRequest:
    return ApiRequest("run", "v2", "GET", f"v2/{ui.name}", purpose="Does the UI service exist?")


def _create_service(ui: UiConfig) -> ApiRequest:
    parent = f"projects/{ui.project}/locations/{ui.region}"
    return ApiRequest(
        "run",
        "v2",
        "POST",
        f"v2/{parent}/services",
        params=(("serviceId", ui.service),),
        body=ui_service_body(ui),
        purpose="Create the UI service",
        when="if it does not exist",
    )


def _update_service(ui: UiConfig) -> ApiRequest:
    return ApiRequest(
        "run",
        "v2",
        "PATCH",
        f"v2/{ui.name}",
        body=ui_service_body(ui, with_name=True),
        purpose="Update the UI service",
        when="if it exists",
    )


def ui_requests(ui: UiConfig) -> list[ApiRequest]:
    """The hosting plan, in order (validated like the GPU deploy's)."""
    member = f"serviceAccount:{ui.account_email}"
    policy, _ = cloudrun.with_invoker({"etag": "BwYAAAAAAAA="}, [member])
    reqs = [
        iam.get_service_account(ui.project, ui.account_email),
        iam.create_service_account(ui.project, ui.account_id, "Workshop UI"),
        cloudrun.get_iam_policy(ui.ollama),
        cloudrun.set_iam_policy(ui.ollama, policy),
    ]
    if secret_names(ui):
        reqs += [
            serviceusage.batch_get(ui.project, (SECRET_MANAGER_API,)),
            serviceusage.batch_enable(ui.project, [SECRET_MANAGER_API]),
            operations.get("serviceusage", "v1", "operations/OPERATION_ID"),
        ]
        accessor, _ = iam.with_role({"etag": "BwYAAAAAAAA="}, secretmanager.ACCESSOR, [member])
        for name in secret_names(ui):
            reqs += [
                secretmanager.get_iam_policy(ui.project, name),
                secretmanager.set_iam_policy(ui.project, name, accessor),
            ]
    return [*reqs, _get_service(ui), _create_service(ui), _update_service(ui)]


def deploy_ui(
    ui: UiConfig,
    http: GoogleHttp,
    *,
    poll_interval: float = 5.0,
    sleep=time.sleep,
    account_waits: tuple[float, ...] = iam.NEW_ACCOUNT_WAITS,
) -> Iterator[Event]:
    """Create the UI's account, let it invoke Ollama and read its secrets, deploy the UI."""
    run = _UiDeploy(ui, http, sleep, poll_interval, account_waits)
    steps = [
        ("ui-account", "The UI's service account", run.account),
        ("ui-invoker", "Let the UI call Ollama", run.invoker),
    ]
    if secret_names(ui):
        steps.append(("ui-secrets", "Let the UI read its secrets", run.secrets))
    steps.append(("ui-service", "Deploy the UI service", run.service))
    for step, title, handler in steps:
        yield StepStarted(step, title)
        try:
            detail = yield from handler()
        except DeployError as err:
            yield Failed(step, err.message, err.fix, err.kind)
            return
        yield StepFinished(step, title, detail)
    yield Done(run.url, ui.service)


class _UiDeploy:
    """The steps of deploy_ui; each is a generator of events returning its detail."""

    def __init__(
        self, ui: UiConfig, http: GoogleHttp, sleep, poll_interval: float, account_waits: tuple[float, ...]
    ):
        self.ui, self.http, self.sleep = ui, http, sleep
        self.poll_interval, self.account_waits = poll_interval, account_waits
        self.member = f"serviceAccount:{ui.account_email}"
        self.url = ""

    def _when_ready(self, call):
        """A just-created account is unknown to other APIs for up to a minute."""
        return iam.when_account_ready(call, self.ui.account_email, self.sleep, self.account_waits)

    def account(self) -> Generator[Event, None, str]:
        yield from ()  # no events of its own; a generator like the other steps
        ui = self.ui
        try:
            self.http.send(iam.get_service_account(ui.project, ui.account_email))
        except NotFoundError:
            with contextlib.suppress(AlreadyExistsError):
                self.http.send(iam.create_service_account(ui.project, ui.account_id, "Workshop UI"))
        return ui.account_email

    def invoker(self) -> Generator[Event, None, str]:
        yield from self._when_ready(lambda: cloudrun.grant_invoker(self.http, self.ui.ollama, [self.member]))
        return f"{cloudrun.INVOKER} on {self.ui.ollama.service_name}"

    def secrets(self) -> Generator[Event, None, str]:
        ui = self.ui
        wanted = (SECRET_MANAGER_API,)
        if serviceusage.disabled(self.http.send(serviceusage.batch_get(ui.project, wanted)), wanted):
            op = self.http.send(serviceusage.batch_enable(ui.project, list(wanted)))
            yield from operations.wait(
                self.http,
                op,
                api="serviceusage",
                version="v1",
                sleep=self.sleep,
                interval=self.poll_interval,
                context={"project": ui.project},
            )
        names = secret_names(ui)
        for name in names:
            yield from self._when_ready(
                lambda n=name: secretmanager.grant_accessor(self.http, ui.project, n, self.member)
            )
        return f"{secretmanager.ACCESSOR} on " + ", ".join(names)

    def service(self) -> Generator[Event, None, str]:
        op = yield from self._when_ready(self._create_or_update)
        service = yield from operations.wait(
            self.http, op, api="run", version="v2", sleep=self.sleep, interval=self.poll_interval
        )
        self.url = service.get("uri", "")
        return self.url

    def _create_or_update(self) -> dict:
        try:
            self.http.send(_get_service(self.ui))
        except NotFoundError:
            return self.http.send(_create_service(self.ui))
        return self.http.send(_update_service(self.ui))
