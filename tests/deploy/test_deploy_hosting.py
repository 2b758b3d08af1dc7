"""Hosting the UI: the Deploy page gate, and the UI service on Cloud Run."""

from __future__ import annotations

import json

import pytest

from deploy import cli
from deploy import events as ev
from deploy.discovery import validate_request
from deploy.hosting import UiConfig, deploy_page_access, deploy_ui, ui_requests, ui_service_body
from tests.deploy.fake_google import Reply, google_error


def test_local_runs_may_deploy():
    access = deploy_page_access({})
    assert access.enabled and "locally" in access.reason


def test_hosted_is_off_without_an_admin_secret():
    access = deploy_page_access({"K_SERVICE": "workshop-ui"})
    assert not access.enabled and not access.needs_secret
    assert "DEPLOY_ADMIN_SECRET" in access.reason


@pytest.mark.parametrize(
    ("secrets", "env"),
    [
        ({"DEPLOY_ADMIN_SECRET": "s3cret"}, {"K_SERVICE": "ui"}),
        (None, {"WORKSHOP_HOSTED": "1", "DEPLOY_ADMIN_SECRET": "s3cret"}),
    ],
)
def test_hosted_needs_the_right_secret(secrets, env):
    assert deploy_page_access(env, secrets).needs_secret
    assert not deploy_page_access(env, secrets, "guess").enabled
    assert deploy_page_access(env, secrets, "s3cret").enabled


def test_secrets_that_raise_count_as_absent():
    class Broken(dict):
        def get(self, key, default=None):
            raise FileNotFoundError("no secrets.toml")

    assert not deploy_page_access({"K_SERVICE": "ui"}, Broken()).enabled


@pytest.fixture
def ui(cfg, fake) -> UiConfig:
    return UiConfig(
        cfg.project,
        cfg.region,
        "us-central1-docker.pkg.dev/p/r/ui:1",
        cfg,
        ollama_url="https://ollama.example",
        cookie_secret_name="ui-cookie",
    )


def test_ui_service_keeps_websocket_sessions(ui):
    body = ui_service_body(ui)
    template = body["template"]
    assert template["sessionAffinity"] is True
    assert template["timeout"] == "3600s"
    assert template["serviceAccount"] == "workshop-ui@workshop-proj.iam.gserviceaccount.com"
    assert "nodeSelector" not in template  # CPU only
    env = {e["name"]: e for e in template["containers"][0]["env"]}
    assert env["STREAMLIT_SERVER_COOKIE_SECRET"]["valueSource"]["secretKeyRef"] == {
        "secret": "ui-cookie",
        "version": "latest",
    }
    assert env["RAG_LLM"]["value"] == "cloudrun:https://ollama.example"
    assert env["RAG_MODEL"]["value"] == "gemma2:9b"
    assert env["WORKSHOP_HOSTED"]["value"] == "1"
    probe = template["containers"][0]["startupProbe"]["httpGet"]
    assert probe == {"path": "/_stcore/health", "port": 8080}
    generated = ui_service_body(UiConfig(ui.project, ui.region, ui.image, ui.ollama))
    cookie = {e["name"]: e for e in generated["template"]["containers"][0]["env"]}
    assert len(cookie["STREAMLIT_SERVER_COOKIE_SECRET"]["value"]) >= 32


def test_ui_requests_match_the_discovery_documents(ui):
    with_admin = UiConfig(
        ui.project, ui.region, ui.image, ui.ollama, cookie_secret_name="c", admin_secret_name="a"
    )
    for config in (ui, with_admin, UiConfig(ui.project, ui.region, ui.image, ui.ollama)):
        for req in ui_requests(config):
            assert validate_request(req) == [], req.purpose
    apis = {req.api for req in ui_requests(with_admin)}
    assert "secretmanager" in apis and "secretmanager" not in {r.api for r in ui_requests(ui_no_secrets(ui))}


def test_the_leaders_index_comes_from_a_mounted_bucket(ui):
    """RAG_INDEX points into a bucket mounted read-only; the body still matches run.v2."""
    with_index = UiConfig(
        ui.project, ui.region, ui.image, ui.ollama, index_bucket="workshop-indexes", index_file="guide.ragidx"
    )
    template = ui_service_body(with_index)["template"]
    assert template["volumes"] == [
        {"name": "leader-index", "gcs": {"bucket": "workshop-indexes", "readOnly": True}}
    ]
    container = template["containers"][0]
    assert container["volumeMounts"] == [{"name": "leader-index", "mountPath": "/mnt/leader-index"}]
    env = {e["name"]: e.get("value") for e in container["env"]}
    assert env["RAG_INDEX"] == "/mnt/leader-index/guide.ragidx"
    for req in ui_requests(with_index):
        assert validate_request(req) == [], req.purpose
    plain = ui_service_body(ui)["template"]
    assert "volumes" not in plain and "RAG_INDEX" not in {e["name"] for e in plain["containers"][0]["env"]}


def ui_no_secrets(ui: UiConfig) -> UiConfig:
    return UiConfig(ui.project, ui.region, ui.image, ui.ollama)


ACCOUNT = "serviceAccount:workshop-ui@workshop-proj.iam.gserviceaccount.com"
SECRET = "projects/workshop-proj/secrets/ui-cookie"


@pytest.fixture
def ollama(fake, make_job, cfg):
    job = make_job(cfg)
    assert list(job.run())[-1].type == "done"
    return job


def test_deploy_ui_gives_its_account_invoker_on_ollama(fake, ollama, cfg, ui):
    fake.secrets.add(SECRET)
    events = list(deploy_ui(ui, ollama.http, sleep=lambda _s: None))
    assert events[-1] == ev.Done(f"{fake.base_url}/svc/workshop-ui", "workshop-ui"), events[-1]
    assert ACCOUNT in fake.invokers(f"projects/{cfg.project}/locations/us-central1/services/ollama-gemma2-9b")
    assert "secretmanager.googleapis.com" in fake.enabled  # the revision's secretKeyRef needs it
    assert ACCOUNT in fake.accessors(SECRET)
    ui_service = fake.services[f"projects/{cfg.project}/locations/us-central1/services/workshop-ui"]
    assert ui_service["template"]["sessionAffinity"] is True
    again = list(deploy_ui(ui, ollama.http, sleep=lambda _s: None))  # idempotent: update
    assert again[-1].type == "done"
    assert fake.called("run.projects.locations.services.patch") == 1
    assert fake.called("iam.projects.serviceAccounts.create") == 1
    assert fake.called("secretmanager.projects.secrets.setIamPolicy") == 1  # already granted
    assert fake.problems == []


def test_without_secrets_secret_manager_is_left_alone(fake, ollama, ui):
    events = list(deploy_ui(ui_no_secrets(ui), ollama.http, sleep=lambda _s: None))
    assert events[-1].type == "done"
    assert "secretmanager.googleapis.com" not in fake.enabled
    assert "ui-secrets" not in [e.step for e in events if isinstance(e, ev.StepStarted)]


def test_a_new_account_is_retried_until_google_knows_it(fake, ollama, ui):
    fake.secrets.add(SECRET)
    fake.new_account_lag = 2  # the invoker grant's first two tries
    missing = google_error(
        400, "INVALID_ARGUMENT", f"Service account {ACCOUNT.split(':')[1]} does not exist."
    )
    for method in ("secretmanager.projects.secrets.setIamPolicy", "run.projects.locations.services.create"):
        fake.fail_next[method] = Reply(400, missing)  # later uses can still hit a lagging replica
    sleeps: list[float] = []
    events = list(deploy_ui(ui, ollama.http, sleep=sleeps.append, poll_interval=0))
    assert events[-1].type == "done", events[-1]
    waits = [e for e in events if isinstance(e, ev.Notice) and "is new and not usable yet" in e.message]
    assert len(waits) == 4 and sum(sleeps) <= 90
    assert ACCOUNT in fake.accessors(SECRET)


def test_an_account_that_never_appears_is_a_sentence(fake, ollama, ui):
    fake.new_account_lag = 100
    events = list(deploy_ui(ui_no_secrets(ui), ollama.http, sleep=lambda _s: None, account_waits=(1, 2)))
    failed = events[-1]
    assert isinstance(failed, ev.Failed) and failed.step == "ui-invoker"
    assert "still does not know the new service account" in failed.message and "after 3 s" in failed.message
    assert "gcloud iam service-accounts describe workshop-ui@" in failed.fix


def test_a_missing_secret_is_a_sentence_and_a_fix(fake, ollama, ui):
    failed = list(deploy_ui(ui, ollama.http, sleep=lambda _s: None))[-1]
    assert isinstance(failed, ev.Failed) and failed.step == "ui-secrets"
    assert failed.message == "The secret 'ui-cookie' does not exist in project workshop-proj."
    assert "gcloud secrets create ui-cookie --data-file=-" in failed.fix
    assert not any(n.endswith("/workshop-ui") for n in fake.services)  # no revision that cannot start


def _ui_args(fake, ollama, *extra: str) -> list[str]:
    return [
        "ui",
        "--project",
        fake.project,
        "--region",
        "us-central1",
        "--image",
        "us-central1-docker.pkg.dev/workshop-proj/ollama-workshop/workshop-ui:1",
        "--ollama-url",
        ollama.url,
        "--model",
        "gemma2:9b",  # the `ollama` fixture's service (the CLI's default is the fit check's pick)
        *extra,
    ]


@pytest.fixture
def cli_env(monkeypatch, fake, sa_file):
    monkeypatch.setenv("GOOGLE_APPLICATION_CREDENTIALS", str(sa_file))
    monkeypatch.setenv("DEPLOY_API_BASE", fake.base_url)
    monkeypatch.setenv("DEPLOY_POLL_SECONDS", "0")


def test_cli_ui_hosts_the_app(fake, ollama, cli_env, capsys):
    fake.secrets |= {SECRET, "projects/workshop-proj/secrets/ui-admin"}
    args = _ui_args(
        fake, ollama, "--cookie-secret-name", "ui-cookie", "--admin-secret-name", "ui-admin", "--json"
    )
    assert cli.main(args) == 0
    out, err = capsys.readouterr()
    result = json.loads(out)
    assert result["status"] == "succeeded" and result["result"]["url"].endswith("/svc/workshop-ui")
    assert "[step_started] step=ui-secrets" in err
    template = fake.services["projects/workshop-proj/locations/us-central1/services/workshop-ui"]["template"]
    assert template["sessionAffinity"] is True and template["timeout"] == "3600s"
    assert "nodeSelector" not in template  # CPU only
    env = {e["name"]: e for e in template["containers"][0]["env"]}
    assert env["STREAMLIT_SERVER_COOKIE_SECRET"]["valueSource"]["secretKeyRef"]["secret"] == "ui-cookie"
    assert env["DEPLOY_ADMIN_SECRET"]["valueSource"]["secretKeyRef"]["secret"] == "ui-admin"
    assert env["RAG_LLM"]["value"] == f"cloudrun:{ollama.url}"
    assert ACCOUNT in fake.accessors("projects/workshop-proj/secrets/ui-admin")
    assert ACCOUNT in fake.invokers(next(n for n in fake.services if n.endswith("/ollama-gemma2-9b")))


def test_cli_ui_failure_exits_1_with_a_fix(fake, ollama, cli_env, capsys):
    assert cli.main(_ui_args(fake, ollama, "--cookie-secret-name", "nope")) == 1
    out, err = capsys.readouterr()
    assert out == "" and "error: The secret 'nope' does not exist" in err and "fix: Create it" in err


def test_cli_ui_mounts_the_leaders_index(fake, ollama, cli_env, capsys):
    fake.secrets.add(SECRET)
    args = _ui_args(fake, ollama, "--cookie-secret-name", "ui-cookie", "--index-bucket", "room-idx", "--json")
    assert cli.main(args) == 0
    template = fake.services["projects/workshop-proj/locations/us-central1/services/workshop-ui"]["template"]
    assert template["volumes"] == [{"name": "leader-index", "gcs": {"bucket": "room-idx", "readOnly": True}}]
    env = {e["name"]: e.get("value") for e in template["containers"][0]["env"]}
    assert env["RAG_INDEX"] == "/mnt/leader-index/index.ragidx"
