"""Hosting the UI: the Deploy page gate, and the UI service on Cloud Run."""

from __future__ import annotations

import pytest

from deploy import events as ev
from deploy.discovery import validate_request
from deploy.hosting import UiConfig, deploy_page_access, deploy_ui, ui_requests, ui_service_body


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
    for req in ui_requests(ui):
        assert validate_request(req) == [], req.purpose


def test_deploy_ui_gives_its_account_invoker_on_ollama(fake, make_job, cfg, ui):
    ollama = make_job(cfg)
    assert list(ollama.run())[-1].type == "done"
    events = list(deploy_ui(ui, ollama.http, sleep=lambda _s: None))
    assert events[-1] == ev.Done(f"{fake.base_url}/svc/workshop-ui", "workshop-ui")
    account = "serviceAccount:workshop-ui@workshop-proj.iam.gserviceaccount.com"
    assert account in fake.invokers(f"projects/{cfg.project}/locations/us-central1/services/ollama-gemma2-9b")
    ui_service = fake.services[f"projects/{cfg.project}/locations/us-central1/services/workshop-ui"]
    assert ui_service["template"]["sessionAffinity"] is True
    again = list(deploy_ui(ui, ollama.http, sleep=lambda _s: None))  # idempotent: update
    assert again[-1].type == "done"
    assert fake.called("run.projects.locations.services.patch") == 1
    assert fake.called("iam.projects.serviceAccounts.create") == 1
    assert fake.problems == []
