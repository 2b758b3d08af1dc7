"""The Deploy page in AppTest, end to end against the fake Google APIs (real google-auth)."""

from __future__ import annotations

import pytest
from streamlit.testing.v1 import AppTest

from deploy.config import DeployConfig
from deploy.job import DeployJob
from tests.conftest import ROOT

APP = str(ROOT / "streamlit_app.py")


@pytest.fixture
def google_env(monkeypatch, fake, sa_file, tmp_path):
    monkeypatch.setenv("GOOGLE_APPLICATION_CREDENTIALS", str(sa_file))
    monkeypatch.setenv("DEPLOY_API_BASE", fake.base_url)
    monkeypatch.setenv("DEPLOY_STATE_DIR", str(tmp_path / "jobs"))
    monkeypatch.setenv("DEPLOY_POLL_SECONDS", "0")
    monkeypatch.delenv("K_SERVICE", raising=False)
    monkeypatch.delenv("WORKSHOP_HOSTED", raising=False)
    return tmp_path / "jobs"


def deploy_page(**secrets) -> AppTest:
    at = AppTest.from_file(APP, default_timeout=120)
    at.secrets.update(secrets)
    at.run()
    at.switch_page("pages/deploy.py").run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def markdown(at: AppTest) -> str:
    return "\n".join(
        [m.value for m in at.markdown]
        + [c.value for c in at.caption]
        + [s.value for s in at.success]
        + [e.value for e in at.error]
        + [w.value for w in at.warning]
        + [i.value for i in at.info]
    )


def test_form_preflight_deploy_and_use_in_chat(google_env, fake):
    fake.enabled |= {"run.googleapis.com", "cloudbuild.googleapis.com", "artifactregistry.googleapis.com"}
    fake.denied = set()
    at = deploy_page()
    assert any("Enter your Google Cloud project ID" in i.value for i in at.info)
    at.text_input(key="d_project").set_value(fake.project).run()
    assert [o for o in at.selectbox(key="d_region").options]  # only regions offering the GPU
    assert "billed" in markdown(at)
    at.button(key="preflight").click().run()
    assert "**credentials**: Signed in as" in markdown(at)
    at.button(key="deploy").click().run()
    assert not at.exception, [e.value for e in at.exception]
    body = markdown(at)
    assert "is ready at" in body and "Cloud Build" in body
    job = DeployJob.latest(google_env)
    assert job.status == "succeeded" and job.url
    assert f"Service URL:** {job.url}" in body
    assert any(c.language == "bash" and "print-identity-token" in c.value for c in at.code)
    at.button(key="use_service").click().run()
    assert at.session_state["settings"].llm == f"cloudrun:{job.url}"
    assert at.session_state["settings"].model == "gemma2:9b"


def test_a_reloaded_page_resumes_the_running_deploy(google_env, fake, credentials):
    fake.enabled |= {"run.googleapis.com", "cloudbuild.googleapis.com", "artifactregistry.googleapis.com"}
    job = DeployJob.create(
        DeployConfig(project=fake.project, region="us-central1"),
        google_env,
        credentials=credentials,
        endpoints=fake.endpoints,
        sleep=lambda _s: None,
    )
    events = job.run()
    for event in events:  # the first page stops following once the build has started
        if getattr(event, "type", "") == "build_status":
            break
    events.close()
    assert DeployJob.latest(google_env).status == "running"
    at = deploy_page()  # a fresh page, as after a reload
    assert not at.exception, [e.value for e in at.exception]
    assert DeployJob.latest(google_env).status == "succeeded"
    assert fake.called("cloudbuild.projects.locations.builds.create") == 1  # followed, not rebuilt
    assert "is ready at" in markdown(at)


def test_a_failed_build_shows_the_log_tail_and_a_fix(google_env, fake):
    fake.enabled |= {"run.googleapis.com", "cloudbuild.googleapis.com", "artifactregistry.googleapis.com"}
    fake.build_outcome = "FAILURE"
    at = deploy_page()
    at.text_input(key="d_project").set_value(fake.project).run()
    at.button(key="deploy").click().run()
    assert not at.exception
    assert any("build" in e.value.lower() for e in at.error)
    assert at.code  # the log tail


def test_hosted_mode_locks_the_page_until_the_admin_secret(google_env, monkeypatch):
    monkeypatch.setenv("WORKSHOP_HOSTED", "1")
    locked = deploy_page()
    assert any("off on this hosted app" in i.value for i in locked.info)
    assert "d_project" not in [w.key for w in locked.text_input]
    at = deploy_page(DEPLOY_ADMIN_SECRET="s3cret")
    at.text_input(key="admin_secret").set_value("wrong").run()
    assert "d_project" not in [w.key for w in at.text_input]
    at.text_input(key="admin_secret").set_value("s3cret").run()
    assert "d_project" in [w.key for w in at.text_input]
