"""The Deploy page in AppTest, end to end against the fake Google APIs (real google-auth)."""

from __future__ import annotations

import pytest
from streamlit.testing.v1 import AppTest

from deploy import catalog
from deploy.config import DeployConfig
from deploy.job import DeployJob
from rag.embeddings.ollama import embedding_target, ollama_embeddings
from rag.llms import make_target
from rag.llms.ollama import CloudRunTarget
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
    settings = at.session_state["settings"]
    assert settings.llm == f"cloudrun:{job.url}" and settings.model == catalog.DEFAULT_MODEL
    assert (settings.embeddings, settings.embedding_model, settings.ollama_url) == (
        "ollama",
        "embeddinggemma",
        job.url,
    )
    assert "and embeds with embeddinggemma" in markdown(at)
    # Both the chat target and the embedder carry an ID token for the service.
    assert isinstance(make_target(settings.llm, settings), CloudRunTarget)
    embedder = ollama_embeddings(settings.embedding_model, settings)
    assert isinstance(embedder.target, CloudRunTarget)
    assert len(embedder.embed_query("What is Cloud Run?")) == 3  # the fake checked the ID token
    assert fake.embed_calls and fake.embed_calls[-1]["model"] == "embeddinggemma"
    # The chat moves elsewhere: a *.run.app embedding server still gets an ID token.
    run_app = settings.merged({"llm": "embedded", "ollama_url": "https://ollama-gemma-1234.a.run.app"})
    assert isinstance(embedding_target(run_app), CloudRunTarget)
    assert not isinstance(embedding_target(run_app.merged({"ollama_url": job.url})), CloudRunTarget)


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
        at.text_input(key="t_model").set_value("gemma2:9b").run()  # what the fake Ollama serves
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


def test_fit_numbers_follow_model_and_gpu_and_an_unfit_choice_cannot_deploy(google_env, fake):
    at = deploy_page()
    at.text_input(key="d_project").set_value(fake.project).run()
    assert at.selectbox(key="d_model_pick").value == catalog.DEFAULT_MODEL
    assert any(
        f"GPU memory: {catalog.DEFAULT_MODEL} on nvidia-l4" in p.proto.text for p in at.get("progress")
    )
    at.selectbox(key="d_model_pick").set_value("gemma4:31b").run()
    error = next(e.value for e in at.error if "will not fit" in e.value)
    assert "of 22.5 GiB" in error and "Nearest fixes:" in error and "a smaller model: gemma4:26b" in error
    assert "deploy" not in [b.key for b in at.button]  # nothing to press until it fits
    at.selectbox(key="d_gpu").set_value("nvidia-rtx-pro-6000").run()
    assert not [e for e in at.error if "will not fit" in e.value]
    assert "deploy" in [b.key for b in at.button]
    at.number_input(key="d_conc").set_value(8).run()  # the numbers move with the concurrency
    assert any("8 slot(s) x 8,192 tokens" in p.proto.text for p in at.get("progress"))


def test_cost_ceiling_and_the_dry_run_are_on_the_page(google_env, fake):
    at = deploy_page()
    at.text_input(key="d_project").set_value(fake.project).run()
    body = markdown(at)
    assert "Cost ceiling:** At most $" in body and "Tier 1 prices read 2026-12-02" in body
    assert "Min instances 0" in body and "scales to zero" in body
    at.number_input(key="d_max").set_value(3).run()
    at.number_input(key="d_hours").set_value(2.0).run()
    assert "3 instance(s) x 2 h" in markdown(at)
    at.number_input(key="d_min").set_value(1).run()
    assert "around the clock" in markdown(at) and "a day" in markdown(at)
    codes = [c.value for c in at.code]
    assert any(c.startswith("# GPU memory: ") and "POST https://run.googleapis.com/" in c for c in codes)
    assert any("gcloud run deploy ollama-" in c for c in codes)
    assert any("Cloud Build image" in m.value and "embeddinggemma" in m.value for m in at.markdown)


def test_deploy_stays_off_while_the_preflight_fails_and_says_why(google_env, fake):
    fake.enabled |= {"run.googleapis.com", "cloudbuild.googleapis.com", "artifactregistry.googleapis.com"}
    fake.denied |= {"cloudbuild.builds.create"}
    at = deploy_page()
    at.text_input(key="d_project").set_value(fake.project).run()
    assert not at.button(key="deploy").disabled  # no checks run yet
    at.button(key="preflight").click().run()
    assert at.button(key="deploy").disabled
    assert any(
        "Deploy is off: the preflight checks failed (role:roles/cloudbuild.builds.editor" in w.value
        for w in at.warning
    )
    at.number_input(key="d_max").set_value(2).run()  # other settings: the old checks do not apply
    assert not at.button(key="deploy").disabled


def test_a_deploy_that_created_nothing_offers_no_resume_or_clean_up(google_env, fake):
    fake.denied |= {"serviceusage.services.enable"}  # the APIs are off and cannot be turned on
    at = deploy_page()
    at.text_input(key="d_project").set_value(fake.project).run()
    at.button(key="deploy").click().run()
    assert not at.exception, [e.value for e in at.exception]
    job = DeployJob.latest(google_env)
    assert job.status == "failed" and job.state.completed == []
    reloaded = deploy_page()  # a reload: a fresh session, the failed job still shown
    assert reloaded.text_input(key="d_project").value == fake.project  # the project is kept
    keys = [b.key for b in reloaded.button]
    assert "resume" not in keys and "cleanup" not in keys
    assert "Nothing was created in workshop-proj" in markdown(reloaded)
    box = next(e.value for e in reloaded.error if "serviceusage.services.enable" in e.value)
    assert "**Fix:** " in box  # the red box carries its fix


def test_a_failed_build_keeps_its_fix_in_the_red_box_and_offers_resume(google_env, fake):
    at = deploy_with_a_failing_build(fake)
    at.run()
    keys = [b.key for b in at.button]
    assert "resume" in keys and "cleanup" in keys  # a repository and a build exist
    assert any("**Fix:** " in e.value for e in at.error)
