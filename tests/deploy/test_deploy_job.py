"""Deploy jobs end to end against the fake Google: flow, resume, reuse, clean-up."""

from __future__ import annotations

import json
import os
import threading
import time

import pytest

from deploy import artifactregistry, warm
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
    assert container["env"] == [
        {"name": "OLLAMA_NUM_PARALLEL", "value": "4"},
        {"name": "OLLAMA_CONTEXT_LENGTH", "value": "8192"},
    ]
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
    assert state["completed"] == ["apis", "repository", "build", "service", "invoker", "warm"]
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
    assert finished["repository"] == "reusing ollama-workshop (made by this app)"
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
    name = artifactregistry.repository_name(cfg)
    fake.repos[name] = {"name": name, "format": "DOCKER", "labels": {"team": "someone-else"}}
    job = make_job(cfg)
    events = list(job.run())
    finished = {e.step: e.detail for e in events if isinstance(e, ev.StepFinished)}
    assert finished["repository"] == "reusing ollama-workshop"
    events = list(job.cleanup(delete_repository=True))
    assert any(isinstance(e, ev.Notice) and "this app did not create it" in e.message for e in events)
    assert fake.repos and not fake.services


def test_cleanup_after_a_redeploy_deletes_the_apps_repository(fake, make_job, cfg, reload_job):
    list(make_job(cfg).run())
    second = make_job(cfg)  # a redeploy reuses the repository the first job made
    list(second.run())
    assert reload_job(second.path).state.repository_created  # inherited through the label
    events = list(second.cleanup(delete_image=True, delete_repository=True))
    assert events[-1].type == "step_finished" and "deleted ollama-workshop" in events[-1].detail
    assert not fake.repos and not fake.packages and not fake.services


def test_latest_is_the_newest_job_not_the_last_saved(tmp_path, make_job, cfg):
    first = make_job(cfg)
    second = make_job(cfg.with_changes(model="gemma3:4b"))
    first._record(ev.Notice("a late save from the old job's follower"))
    future = time.time() + 60
    os.utime(first.path, (future, future))  # newest file on disk, still the older job
    (tmp_path / "state" / "notes.json").write_text('{"not": "a job"}')
    latest = DeployJob.latest(tmp_path / "state")
    assert latest.path == second.path and first.path != second.path
    assert latest.config.model == "gemma3:4b"
    assert DeployJob.latest(tmp_path / "nothing-here") is None


def test_two_followers_merge_events_and_keep_the_furthest_log(make_job, cfg, reload_job):
    a = make_job(cfg)
    b = reload_job(a.path)  # e.g. a reloaded page while the old run still polls
    a._record(ev.Notice("a: first"))
    b._record(ev.Notice("b: second"))
    a._record(ev.Notice("a: third"))
    a._update(log_offset=120, log_tail=["line 1", "line 2"])
    b._update(log_offset=60, log_tail=["line 1"])  # b is behind: it must not win
    on_disk = reload_job(a.path)
    assert [e.message for e in on_disk.history()] == ["a: first", "b: second", "a: third"]
    seqs = [e["seq"] for e in on_disk.state.events]
    assert seqs == sorted(set(seqs))
    assert on_disk.state.log_offset == 120 and on_disk.state.log_tail == ["line 1", "line 2"]
    b._record(ev.Notice("b: fourth"))
    assert [e.message for e in b.history()] == ["a: first", "b: second", "a: third", "b: fourth"]
    assert [e.message for e in reload_job(a.path).history()][-1] == "b: fourth"


def test_the_model_is_loaded_before_the_deploy_succeeds(fake, make_job, cfg):
    job = make_job(cfg)
    events = list(job.run())
    assert events[-1].type == "done"
    started = [e.step for e in events if isinstance(e, ev.StepStarted)]
    assert started[-2:] == ["invoker", "warm"]
    assert fake.generate_calls == [{"model": "gemma2:9b"}]  # loads, generates nothing
    finished = {e.step: e.detail for e in events if isinstance(e, ev.StepFinished)}
    assert finished["warm"].startswith("gemma2:9b answered in")


def test_warm_up_waits_while_the_service_is_busy(fake, make_job, cfg):
    fake.service_busy_calls = 2  # Cloud Run answers 503 during a cold start
    events = list(make_job(cfg).run())
    assert events[-1].type == "done"
    waits = [e.message for e in events if isinstance(e, ev.Notice) and "HTTP 503" in e.message]
    assert len(waits) == 2 and len(fake.generate_calls) == 3


def test_a_model_that_does_not_load_fails_the_deploy(fake, make_job, cfg):
    fake.model_loads = False
    job = make_job(cfg)
    failed = list(job.run())[-1]
    assert isinstance(failed, ev.Failed) and failed.step == "warm"
    assert failed.message.startswith("The service started but the model gemma2:9b did not load")
    assert "out of memory" in failed.message
    assert "console.cloud.google.com/run/detail/us-central1/ollama-gemma2-9b/logs" in failed.fix
    assert job.status == "failed" and "warm" not in job.state.completed
    fake.model_loads = True
    assert list(job.run())[-1].type == "done"  # only the warm-up runs again
    assert fake.called("run.projects.locations.services.create") == 1
    assert fake.called("run.projects.locations.services.patch") == 0


def test_a_service_that_stays_busy_fails_the_warm_up(fake, make_job, cfg):
    fake.service_busy_calls = 100
    failed = list(make_job(cfg).run())[-1]
    assert isinstance(failed, ev.Failed) and failed.step == "warm"
    assert "did not load (HTTP 503" in failed.message and "service logs" in failed.fix
    assert len(fake.generate_calls) == 1 + len(warm.WAITS)  # bounded


@pytest.mark.parametrize(
    ("region", "allowed", "creates", "refused"),
    [("europe-west4", {"us-central1"}, 2, None), ("us-central1", {"asia-east1"}, 1, "us-central1")],
)
def test_a_refused_build_region_falls_back_once(
    fake, make_job, cfg, reload_job, region, allowed, creates, refused
):
    fake.build_regions = allowed
    job = make_job(cfg.with_changes(region=region))
    events = list(job.run())
    paths = [p for m, p in fake.calls if m == "cloudbuild.projects.locations.builds.create"]
    assert len(paths) == creates and f"/locations/{region}/" in paths[0]
    if refused is None:
        assert events[-1].type == "done"
        assert "/locations/us-central1/" in paths[1]
        assert any(
            isinstance(e, ev.Notice) and "building in us-central1 instead" in e.message for e in events
        )
        assert reload_job(job.path).build_config.build_region == "us-central1"
        image = next(iter(fake.services.values()))["template"]["containers"][0]["image"]
        assert image.startswith(f"{region}-docker.pkg.dev/")  # still the regional repository
    else:
        failed = events[-1]
        assert isinstance(failed, ev.Failed) and failed.step == "build"
        assert failed.message.startswith(f"Cloud Build refused to build in {refused}")
        assert "Cloud Build region" in failed.fix and "asia-east1" in failed.fix
