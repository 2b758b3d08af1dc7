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


def deploy_with_a_failing_build(fake) -> AppTest:
    fake.enabled |= {"run.googleapis.com", "cloudbuild.googleapis.com", "artifactregistry.googleapis.com"}
    fake.build_outcome = "FAILURE"
    at = deploy_page()
    at.text_input(key="d_project").set_value(fake.project).run()
    at.button(key="deploy").click().run()
    return at


def test_a_failed_build_shows_the_log_tail_and_a_fix(google_env, fake):
    at = deploy_with_a_failing_build(fake)
    assert not at.exception
    assert any("build" in e.value.lower() for e in at.error)
    assert at.code  # the log tail


def test_a_failed_deploy_resumes_from_the_page_keeping_finished_steps(google_env, fake):
    at = deploy_with_a_failing_build(fake)
    failed = DeployJob.latest(google_env)
    assert failed.status == "failed" and "repository" in failed.state.completed
    at.run()  # the reloaded page offers to resume the failed job, not only to clean up
    assert "Finished steps, kept on a retry: apis, repository" in markdown(at)
    fake.build_outcome = "SUCCESS"
    at.button(key="resume").click().run()
    assert not at.exception, [e.value for e in at.exception]
    job = DeployJob.latest(google_env)
    assert job.state.job_id == failed.state.job_id and job.status == "succeeded"  # the same job, resumed
    assert "is ready at" in markdown(at)


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


def test_tuning_sweeps_a_service_and_applies_the_recommendation(google_env):
    from tests.servers.ollama import FakeOllama, OllamaState

    with FakeOllama(OllamaState(token_delay=0.005, parallel=2)) as service:
        at = deploy_page()
        at.text_input(key="t_url").set_value(service.url).run()
        at.multiselect(key="t_levels").set_value([1, 2, 4]).run()
        at.number_input(key="t_requests").set_value(4).run()
        at.number_input(key="t_tokens").set_value(16).run()
        at.button(key="t_run").click().run()
        assert not at.exception, [e.value for e in at.exception]
        report = at.session_state["tune_report"]
        assert [row["level"] for row in report.rows()] == [1, 2, 4]
        assert any("Recommendation" in m.value for m in at.markdown)
        at.button(key="t_apply").click().run()
        assert at.number_input(key="d_conc").value >= 1 and at.number_input(key="d_max").value >= 1
        assert at.session_state["d_parallel"] in (1, 2, 4)


def test_tuning_an_unreachable_service_is_a_sentence(google_env):
    at = deploy_page()
    at.text_input(key="t_url").set_value("http://127.0.0.1:9").run()
    at.button(key="t_run").click().run()
    assert not at.exception
    assert any("127.0.0.1:9" in e.value for e in at.error)


def test_preflight_offers_the_enable_button_and_it_enables_the_apis(google_env, fake):
    wanted = {"run.googleapis.com", "cloudbuild.googleapis.com", "artifactregistry.googleapis.com"}
    assert not wanted & fake.enabled
    at = deploy_page()
    at.text_input(key="d_project").set_value(fake.project).run()
    assert "enable_apis" not in [b.key for b in at.button]
    at.button(key="preflight").click().run()
    assert "**apis**: Not enabled yet: run.googleapis.com" in markdown(at)
    at.button(key="enable_apis").click().run()
    assert not at.exception, [e.value for e in at.exception]
    assert wanted <= fake.enabled
    assert "Enable the APIs — enabled run.googleapis.com" in markdown(at)


def test_deploy_is_off_while_a_deploy_runs(google_env, fake, credentials, monkeypatch):
    fake.enabled |= {"run.googleapis.com", "cloudbuild.googleapis.com", "artifactregistry.googleapis.com"}
    monkeypatch.setenv("GOOGLE_CLOUD_PROJECT", fake.project)  # the form is filled on the first run
    running = DeployJob.create(DeployConfig(project=fake.project, region="us-central1"), google_env)
    at = deploy_page()  # this run follows the running job to its end, after drawing the form
    assert at.button(key="deploy").disabled
    assert f"Deploy {running.state.job_id} is still running" in markdown(at)
    assert DeployJob.latest(google_env).status == "succeeded"
    at.run()  # the next run: nothing is running any more
    assert not at.button(key="deploy").disabled
    assert "still running" not in markdown(at)


def test_the_build_region_is_an_advanced_field(google_env, fake):
    fake.enabled |= {"run.googleapis.com", "cloudbuild.googleapis.com", "artifactregistry.googleapis.com"}
    at = deploy_page()
    at.text_input(key="d_project").set_value(fake.project).run()
    assert at.text_input(key="d_build_location").placeholder == at.selectbox(key="d_region").value
    at.text_input(key="d_build_location").set_value("us-west2").run()
    at.button(key="deploy").click().run()
    assert not at.exception, [e.value for e in at.exception]
    paths = [p for m, p in fake.calls if m == "cloudbuild.projects.locations.builds.create"]
    assert len(paths) == 1 and "/locations/us-west2/" in paths[0]
    assert DeployJob.latest(google_env).status == "succeeded"
