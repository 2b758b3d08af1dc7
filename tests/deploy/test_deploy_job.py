"""Deploy jobs end to end against the fake Google: flow, resume, reuse, clean-up."""

from __future__ import annotations

import json
import threading

from deploy import events as ev
from deploy.job import DeployJob
from deploy.snippets import run_test_call


def _types(events) -> list[str]:
    return [e.type for e in events]


def test_full_deploy_builds_deploys_and_grants_invoker(fake, make_job, cfg, credentials):
    job = make_job(cfg)
    events = list(job.run())

    assert events[-1] == ev.Done(job.url, "ollama-gemma2-9b")
    assert job.status == "succeeded" and job.url.endswith("/svc/ollama-gemma2-9b")
    assert fake.problems == []  # every request and response matched the discovery docs
    order = [m.rsplit(".", 1)[-1] for m, _ in fake.calls]
    first = {name: order.index(name) for name in ("batchEnable", "create", "patch") if name in order}
    assert first["batchEnable"] < order.index("get")  # APIs before anything else
    assert order.count("create") == 3  # repository, build, service: each once
    assert {"run.googleapis.com", "cloudbuild.googleapis.com"} <= fake.enabled

    builds = [e for e in events if isinstance(e, ev.BuildStatus)]
    assert next(b.status for b in builds) == "QUEUED" and builds[-1].status == "SUCCESS"
    assert builds[-1].log_url.startswith("https://console.cloud.google.com/cloud-build/")
    logged = [line for e in events if isinstance(e, ev.LogLines) for line in e.lines]
    assert logged[-2:] == ["PUSH", "DONE"]

    service = fake.services[f"projects/{cfg.project}/locations/us-central1/services/ollama-gemma2-9b"]
    container = service["template"]["containers"][0]
    assert "@sha256:" in container["image"]  # pinned to the digest the build produced
    assert service["template"]["nodeSelector"] == {"accelerator": "nvidia-l4"}
    assert container["resources"]["cpuIdle"] is False
    assert container["env"] == [{"name": "OLLAMA_NUM_PARALLEL", "value": "4"}]
    assert service["template"]["maxInstanceRequestConcurrency"] == 4
    assert service["invokerIamDisabled"] is False
    assert "serviceAccount:deployer@workshop-proj.iam.gserviceaccount.com" in fake.invokers(service["name"])

    result = run_test_call(job.url, cfg.model, credentials=credentials)
    assert result.status == 200 and "blue" in result.text


def test_state_file_holds_ids_and_history(fake, make_job, cfg, reload_job):
    job = make_job(cfg)
    list(job.run())
    state = json.loads(job.path.read_text())
    assert state["status"] == "succeeded"
    assert state["build_id"] and state["service_operation"].startswith("projects/")
    assert state["completed"] == ["apis", "repository", "build", "service", "invoker"]
    again = reload_job(job.path)
    history = again.history()
    assert history[0] == ev.StepStarted("apis", "Enable the APIs")
    assert history[-1] == ev.Done(job.url, "ollama-gemma2-9b")
    assert list(again.run()) == [ev.Done(job.url, "ollama-gemma2-9b")]  # nothing re-sent


def test_resume_after_restart_follows_the_same_build(fake, make_job, cfg, reload_job):
    job = make_job(cfg)
    for event in job.run():  # the page is reloaded mid-build
        if isinstance(event, ev.BuildStatus) and event.status == "WORKING":
            break
    build_id = json.loads(job.path.read_text())["build_id"]
    assert build_id and fake.called("cloudbuild.projects.locations.builds.create") == 1

    resumed = reload_job(job.path)  # a new process reads the state file
    events = list(resumed.run())
    assert events[-1].type == "done"
    assert fake.called("cloudbuild.projects.locations.builds.create") == 1
    assert {e.build_id for e in events if isinstance(e, ev.BuildStatus)} == {build_id}
    assert "apis" not in [e.step for e in events if isinstance(e, ev.StepStarted)]
    assert fake.problems == []


def test_resume_mid_deploy_polls_the_saved_operation(fake, make_job, cfg, reload_job):
    fake.polls_to_done = 3
    job = make_job(cfg)
    for event in job.run():
        if isinstance(event, ev.OperationProgress) and "RoutesReady" in event.detail:
            break
    op_name = job.state.service_operation
    resumed = reload_job(job.path)
    events = list(resumed.run())
    assert events[-1].type == "done"
    assert fake.called("run.projects.locations.services.create") == 1
    assert {e.name for e in events if isinstance(e, ev.OperationProgress)} == {op_name}


def test_two_followers_never_start_two_builds(fake, make_job, cfg, reload_job):
    job = make_job(cfg)
    for event in job.run():
        if isinstance(event, ev.StepStarted) and event.step == "build":
            break
    a, b = reload_job(job.path), reload_job(job.path)
    results = {}
    threads = [
        threading.Thread(target=lambda j=j, k=k: results.setdefault(k, list(j.run())))
        for k, j in (("a", a), ("b", b))
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert results["a"][-1].type == "done" and results["b"][-1].type == "done"
    assert fake.called("cloudbuild.projects.locations.builds.create") == 1


def test_existing_repository_and_service_are_reused(fake, make_job, cfg):
    list(make_job(cfg).run())
    second = make_job(cfg)
    events = list(second.run())
    finished = {e.step: e.detail for e in events if isinstance(e, ev.StepFinished)}
    assert finished["apis"].startswith("already enabled")
    assert finished["repository"] == "reusing ollama-workshop"
    assert finished["service"].startswith("updated ollama-gemma2-9b")
    assert finished["invoker"] == "you can already invoke it"
    assert fake.called("run.projects.locations.services.patch") == 1
    assert fake.called("artifactregistry.projects.locations.repositories.create") == 1
    name = f"projects/{cfg.project}/locations/us-central1/services/ollama-gemma2-9b"
    assert fake.services[name]["generation"] == "2"


def test_prebuilt_image_skips_repository_and_build(fake, make_job, cfg):
    job = make_job(cfg.with_changes(model="gemma3:4b", use_prebuilt=True))
    events = list(job.run())
    assert events[-1].type == "done"
    assert not any(m.startswith(("cloudbuild", "artifactregistry")) for m, _ in fake.calls)
    assert "cloudbuild.googleapis.com" not in fake.enabled
    service = next(iter(fake.services.values()))
    assert (
        service["template"]["containers"][0]["image"]
        == "us-docker.pkg.dev/cloudrun/container/gemma/gemma3-4b"
    )


def test_explicit_invoker_members_are_granted(fake, make_job, cfg):
    ui = "serviceAccount:workshop-ui@workshop-proj.iam.gserviceaccount.com"
    job = make_job(cfg.with_changes(invoker_members=(ui,)))
    list(job.run())
    assert fake.invokers(next(iter(fake.services))) == {ui}


def test_build_failure_shows_log_tail_then_retry_builds_again(fake, make_job, cfg):
    fake.build_outcome = "FAILURE"
    job = make_job(cfg.with_changes(model="gemma2:9x"))
    events = list(job.run())
    failed = events[-1]
    assert isinstance(failed, ev.Failed) and failed.step == "build"
    assert failed.kind == "build_failed"
    assert "FAILURE" in failed.message and "Build step failure" in failed.message
    assert any("pull model manifest: file does not exist" in line for line in failed.log_tail)
    assert job.status == "failed" and "service" not in job.state.completed
    assert not fake.services

    fake.build_outcome = "SUCCESS"
    events = list(job.run())  # Deploy pressed again: a fresh build, then the rest
    assert events[-1].type == "done"
    assert fake.called("cloudbuild.projects.locations.builds.create") == 2
    assert fake.called("artifactregistry.projects.locations.repositories.create") == 1


def test_failed_revision_is_reported_and_retry_redeploys(fake, make_job, cfg):
    fake.container_starts = False
    job = make_job(cfg)
    failed = list(job.run())[-1]
    assert isinstance(failed, ev.Failed) and failed.step == "service"
    assert "failed to start and listen on the port" in failed.message
    fake.container_starts = True
    assert list(job.run())[-1].type == "done"
    assert fake.called("cloudbuild.projects.locations.builds.create") == 1
    assert fake.called("run.projects.locations.services.patch") == 1  # the failed one exists


def test_cleanup_deletes_service_image_and_own_repository(fake, make_job, cfg):
    job = make_job(cfg)
    list(job.run())
    assert fake.packages
    events = list(job.cleanup(delete_image=True, delete_repository=True))
    assert events[-1].type == "step_finished"
    assert not fake.services and not fake.packages and not fake.repos
    assert job.status == "cleaned"
    again = list(job.cleanup())  # idempotent
    assert "already gone" in again[-1].detail
    assert next(iter(job.run())).type == "notice"


def test_cleanup_keeps_a_repository_it_did_not_create(fake, make_job, cfg):
    list(make_job(cfg).run())
    second = make_job(cfg)
    list(second.run())
    events = list(second.cleanup(delete_repository=True))
    assert any(isinstance(e, ev.Notice) and "did not create" in e.message for e in events)
    assert fake.repos and not fake.services


def test_latest_finds_the_most_recent_job(tmp_path, make_job, cfg, credentials, fake):
    first = make_job(cfg)
    second = make_job(cfg.with_changes(model="gemma3:4b"))
    second.path.touch()
    latest = DeployJob.latest(tmp_path / "state")
    assert latest.path == second.path and first.path != second.path
    assert latest.config.model == "gemma3:4b"
    assert DeployJob.latest(tmp_path / "nothing-here") is None
