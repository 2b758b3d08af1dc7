"""Deploy faults (issue 11, items 12-15), each fed by the fake Google or a crafted file:
a lost reply to a create, a process killed while a create is in flight, 429 rate limits with
Retry-After, 5xx on operation polls, and a damaged job state file."""

from __future__ import annotations

import email.utils
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
import requests

from deploy import cli, cloudbuild, cloudrun, errors, operations
from deploy import events as ev
from deploy import http as deploy_http
from deploy.http import GoogleHttp
from deploy.job import DeployJob
from tests.deploy.fake_google import Reply, error_info, google_error

BUILD_CREATE = "cloudbuild.projects.locations.builds.create"
BUILD_GET = "cloudbuild.projects.locations.builds.get"
BUILD_LIST = "cloudbuild.projects.locations.builds.list"
OP_GET = "run.projects.locations.operations.get"
SVC_GET = "run.projects.locations.services.get"
SVC_CREATE = "run.projects.locations.services.create"
SVC_PATCH = "run.projects.locations.services.patch"
REPO = Path(__file__).resolve().parents[2]
CTX = {"project": "workshop-proj", "region": "us-central1", "gpu": "nvidia-l4"}


def _failed(events) -> ev.Failed:
    last = events[-1]
    assert isinstance(last, ev.Failed), events
    assert last.message and last.fix
    return last


def _rate_limited(service: str = "run.googleapis.com") -> dict:
    """Google's answer when a project calls an API too often (a per-minute quota)."""
    return google_error(
        429,
        "RESOURCE_EXHAUSTED",
        f"Quota exceeded for quota metric 'Read requests' and limit 'Read requests per minute' of "
        f"service '{service}' for consumer 'project_number:123456789012'.",
        [
            error_info(
                "RATE_LIMIT_EXCEEDED",
                "googleapis.com",
                {
                    "service": service,
                    "quota_metric": f"{service}/read_requests",
                    "quota_limit": "ReadRequestsPerMinutePerProject",
                    "consumer": "projects/123456789012",
                },
            )
        ],
    )


def _service_name(cfg) -> str:
    return cloudrun.service_name(cfg)


# 12. A build whose create reply was lost is found again, never built twice ---------------


def test_every_build_carries_the_jobs_tag_and_a_plain_deploy_looks_nothing_up(fake, make_job, cfg):
    job = make_job(cfg)
    assert list(job.run())[-1].type == "done"
    (record,) = fake.builds.values()
    assert cloudbuild.job_tag(job.state.job_id) in record["build"]["tags"]
    assert fake.called(BUILD_LIST) == 0  # nothing was lost: no lookup
    for bad in ("has space", "x" * 200, "é", "a/b"):
        with pytest.raises(ValueError):
            cloudbuild.job_tag(bad)


def test_the_fake_refuses_a_tag_cloud_build_refuses(http, fake, cfg):
    fake.enabled.add("cloudbuild.googleapis.com")
    with pytest.raises(errors.InvalidArgumentError) as info:
        http.send(cloudbuild.create_build(cfg, "bad tag"))
    assert "invalid tag" in info.value.message and not fake.builds


def test_a_lost_build_create_reply_is_found_again_on_resume(fake, make_job, cfg, reload_job):
    fake.lose_reply[BUILD_CREATE] = 1
    job = make_job(cfg)
    failed = _failed(list(job.run()))
    assert failed.step == "build" and failed.kind == "network"
    (build_id,) = fake.builds  # Cloud Build started it all the same
    events = list(reload_job(job.path).run())
    assert events[-1].type == "done"
    assert fake.called(BUILD_CREATE) == 1 and fake.called(BUILD_LIST) == 1
    assert {e.build_id for e in events if isinstance(e, ev.BuildStatus)} == {build_id}
    assert any(isinstance(e, ev.Notice) and f"Found build {build_id}" in e.message for e in events)


def test_a_lost_reply_in_the_fallback_region_is_looked_for_there(fake, make_job, cfg, reload_job):
    fake.build_regions = {"us-central1"}
    fake.lose_reply[BUILD_CREATE] = 1  # europe-west4 is refused (answered); the fallback's is lost
    job = make_job(cfg.with_changes(region="europe-west4"))
    assert _failed(list(job.run())).kind == "network"
    (record,) = fake.builds.values()
    assert "/locations/us-central1/" in record["build"]["name"]
    events = list(reload_job(job.path).run())
    assert events[-1].type == "done" and fake.called(BUILD_CREATE) == 2 and len(fake.builds) == 1
    listed = [p for m, p in fake.calls if m == BUILD_LIST]
    assert listed == ["v1/projects/workshop-proj/locations/us-central1/builds"]


# 13. Rate limits are waited out (Retry-After), and are not called missing GPU quota -----------


def test_a_rate_limit_is_not_reported_as_missing_gpu_quota():
    err = errors.from_http(429, _rate_limited(), CTX)
    assert isinstance(err, errors.RateLimitError) and err.kind == "rate_limit"
    assert "GPU" not in err.message and "approval" not in err.fix
    assert "rate limit" in err.fix and "resume" in err.fix
    bare = google_error(429, "RESOURCE_EXHAUSTED", "Quota exceeded for quota metric 'Write requests'.")
    assert isinstance(errors.from_http(429, bare, CTX), errors.RateLimitError)  # no ErrorInfo


def test_gpu_quota_is_still_gpu_quota():
    gpu = google_error(
        429,
        "RESOURCE_EXHAUSTED",
        "Quota exceeded for quota metric 'Total Nvidia L4 GPU allocation without zonal redundancy, "
        "per project per region' and limit 'Total Nvidia L4 GPU allocation without zonal redundancy, "
        "per project per region per region' of service 'run.googleapis.com'.",
    )
    err = errors.from_http(429, gpu, CTX)
    assert isinstance(err, errors.QuotaError) and not isinstance(err, errors.RateLimitError)
    assert "No nvidia-l4 GPU quota left for Cloud Run in us-central1" in err.message
    assert "run.googleapis.com/nvidia_l4_gpu_allocation" in err.fix


def test_a_429_on_a_build_poll_waits_its_retry_after_and_the_deploy_carries_on(fake, make_job, cfg):
    fake.fail_next[BUILD_GET] = Reply(
        429, _rate_limited("cloudbuild.googleapis.com"), headers={"Retry-After": "2"}
    )
    slept: list[float] = []
    job = make_job(cfg, sleep=slept.append, poll_interval=0.5)
    events = list(job.run())
    assert events[-1].type == "done", events[-1]
    assert slept.count(2.0) == 1  # exactly the Retry-After, once
    assert fake.called(BUILD_CREATE) == 1


def test_a_rate_limited_create_is_sent_again_but_gpu_quota_is_not(fake, make_job, cfg):
    fake.fail_next[SVC_CREATE] = Reply(429, _rate_limited(), headers={"Retry-After": "1"})
    assert list(make_job(cfg).run())[-1].type == "done"
    assert fake.called(SVC_CREATE) == 2 and len(fake.services) == 1

    fake.services.clear()
    fake.gpu_quota[("nvidia-l4", "us-central1", False)] = 0
    failed = _failed(list(make_job(cfg).run()))
    assert failed.kind == "quota" and "GPU quota" in failed.message
    assert fake.called(SVC_CREATE) == 3  # refused once, not retried


def test_rate_limit_retries_are_bounded_in_tries_and_in_time(credentials, fake, cfg):
    fake.enabled.add("run.googleapis.com")
    slept: list[float] = []
    http = GoogleHttp(credentials, fake.endpoints, sleep=slept.append)
    fake.fail_next[SVC_GET] = [Reply(429, _rate_limited(), headers={"Retry-After": "1"})] * 20
    with pytest.raises(errors.RateLimitError) as info:
        http.send(cloudrun.get_service(cfg))
    assert fake.called(SVC_GET) == deploy_http.RATE_LIMIT_ATTEMPTS
    assert slept == [1.0] * (deploy_http.RATE_LIMIT_ATTEMPTS - 1)
    assert f"gave up after {deploy_http.RATE_LIMIT_ATTEMPTS} tries" in info.value.message

    fake.fail_next[SVC_GET] = [Reply(429, _rate_limited(), headers={"Retry-After": "3600"})]
    slept.clear()
    with pytest.raises(errors.RateLimitError) as info:  # longer than the budget: not waited out
        http.send(cloudrun.get_service(cfg))
    assert slept == [] and info.value.retry_after == 3600.0


def test_retry_after_reads_seconds_and_http_dates():
    resp = requests.Response()
    assert deploy_http.retry_after(resp, default=4.0) == 4.0
    resp.headers["Retry-After"] = "7"
    assert deploy_http.retry_after(resp, default=4.0) == 7.0
    resp.headers["Retry-After"] = email.utils.formatdate(time.time() + 30, usegmt=True)
    assert 25 <= deploy_http.retry_after(resp, default=4.0) <= 31
    resp.headers["Retry-After"] = "soon"
    assert deploy_http.retry_after(resp, default=4.0) == 4.0


# 14. Failing polls and lost service replies: poll what exists, never a second revision --------


def test_three_500s_on_an_operation_poll_are_ridden_out(fake, make_job, cfg):
    fake.fail_next[OP_GET] = [Reply(500, google_error(500, "INTERNAL", "Internal error encountered."))] * 3
    events = list(make_job(cfg).run())
    assert events[-1].type == "done", events[-1]
    assert fake.called(SVC_CREATE) == 1 and fake.called(SVC_PATCH) == 0


def test_polls_that_keep_failing_leave_the_operation_for_resume(fake, make_job, cfg, reload_job):
    unavailable = Reply(503, google_error(503, "UNAVAILABLE", "The service is currently unavailable."))
    fake.fail_next[OP_GET] = [unavailable] * deploy_http.READ_ATTEMPTS
    job = make_job(cfg)
    failed = _failed(list(job.run()))
    assert failed.step == "service"
    op = job.state.service_operation
    assert op and op not in job.state.failed_operations  # the operation did not fail; a poll did
    events = list(reload_job(job.path).run())
    assert events[-1].type == "done"
    assert fake.called(SVC_CREATE) == 1 and fake.called(SVC_PATCH) == 0
    assert {e.name for e in events if isinstance(e, ev.OperationProgress)} == {op}
    assert fake.services[_service_name(cfg)]["generation"] == "1"


def test_an_operation_that_never_ends_is_left_to_resume_not_redone(
    fake, make_job, cfg, reload_job, monkeypatch
):
    monkeypatch.setattr(operations, "WAIT_LIMIT_S", -1.0)  # the hour is up at once
    job = make_job(cfg)
    failed = _failed(list(job.run()))
    assert failed.step == "apis" and "has not finished" in failed.message and "resume" in failed.fix
    assert not job.state.failed_operations
    monkeypatch.setattr(operations, "WAIT_LIMIT_S", 3600.0)
    assert list(reload_job(job.path).run())[-1].type == "done"
    assert fake.called("serviceusage.services.batchEnable") == 1


def test_a_lost_services_create_reply_is_followed_not_patched(fake, make_job, cfg, reload_job):
    fake.lose_reply[SVC_CREATE] = 1
    job = make_job(cfg)
    failed = _failed(list(job.run()))
    assert failed.step == "service" and failed.kind == "network"
    assert job.state.service_sent == "create" and not job.state.service_operation
    events = list(reload_job(job.path).run())
    assert events[-1].type == "done"
    assert fake.called(SVC_CREATE) == 1 and fake.called(SVC_PATCH) == 0
    progress = [e for e in events if isinstance(e, ev.OperationProgress)]
    assert progress and progress[-1].done and progress[-1].name == _service_name(cfg)
    finished = {e.step: e.detail for e in events if isinstance(e, ev.StepFinished)}
    assert finished["service"].startswith(f"created {cfg.service_name}")


def test_a_lost_patch_reply_is_not_sent_twice(fake, make_job, cfg, reload_job):
    assert list(make_job(cfg).run())[-1].type == "done"
    fake.lose_reply[SVC_PATCH] = 1
    job = make_job(cfg)  # a redeploy: a new image, so a patch
    assert _failed(list(job.run())).kind == "network"
    events = list(reload_job(job.path).run())
    assert events[-1].type == "done"
    assert fake.called(SVC_PATCH) == 1
    assert fake.services[_service_name(cfg)]["generation"] == "2"


def test_a_revision_that_fails_after_a_lost_reply_is_reported_then_redone(fake, make_job, cfg, reload_job):
    fake.container_starts = False
    fake.lose_reply[SVC_CREATE] = 1
    job = make_job(cfg)
    list(job.run())
    resumed = reload_job(job.path)
    failed = _failed(list(resumed.run()))
    assert failed.step == "service" and "failed to start and listen on the port" in failed.message
    fake.container_starts = True
    assert list(resumed.run())[-1].type == "done"
    assert fake.called(SVC_CREATE) == 1 and fake.called(SVC_PATCH) == 1  # a new revision, once


@pytest.mark.parametrize("method", [BUILD_CREATE, SVC_CREATE])
def test_a_deploy_killed_while_a_create_is_in_flight_resumes_without_a_second_one(
    fake, sa_file, tmp_path, reload_job, method
):
    """The real thing: `python -m deploy deploy` is SIGKILLed after Google received the create."""
    received = fake.hold_reply[method] = threading.Event()
    env = {
        **os.environ,
        "GOOGLE_APPLICATION_CREDENTIALS": str(sa_file),
        "DEPLOY_API_BASE": fake.base_url,
        "DEPLOY_POLL_SECONDS": "0",
        "NO_PROXY": "127.0.0.1",
    }
    args = [
        "deploy",
        "--project",
        fake.project,
        "--region",
        "us-central1",
        "--state-dir",
        str(tmp_path / "s"),
    ]
    proc = subprocess.Popen(
        [sys.executable, "-m", "deploy", *args],
        cwd=REPO,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        assert received.wait(120), "the create never arrived"
    finally:
        proc.kill()
        proc.wait(30)
        fake.release()
    (state,) = (tmp_path / "s").glob("*.json")
    events = list(reload_job(state).run())
    assert events[-1].type == "done", events[-1]
    assert fake.called(BUILD_CREATE) == 1 and len(fake.builds) == 1
    assert fake.called(SVC_CREATE) == 1 and fake.called(SVC_PATCH) == 0


# 15. A damaged state file is named, with what to do; state writes are atomic ---------------------


def _truncate(path: Path) -> None:
    text = path.read_text()
    path.write_text(text[: len(text) // 2])


def test_a_truncated_state_file_is_named_not_a_traceback(make_job, cfg, capsys):
    job = make_job(cfg)
    job._record(ev.Notice("something to fill the file"))
    _truncate(job.path)
    for args in (["resume", "--state", str(job.path)], ["resume", "--state-dir", str(job.path.parent)]):
        code = cli.main(args)
        err = capsys.readouterr().err
        assert code == 1  # an error, not bad arguments
        assert f"The deploy state file {job.path} is damaged" in err, err
        assert f"mv {job.path} {job.path}.damaged" in err
        assert f'tags="deploy-{job.state.job_id}"' in err  # how to find its build
        assert "No deploy state" not in err and "Traceback" not in err


def test_other_broken_state_files_are_named_too(tmp_path, make_job, cfg, capsys):
    missing = tmp_path / "nope.json"
    assert cli.main(["resume", "--state", str(missing)]) == 1
    assert f"There is no deploy state file {missing}" in capsys.readouterr().err
    job = make_job(cfg)
    for text in ('["a list"]', '{"job_id": "x", "config": {}, "events": [1]}', "\udcff"):
        job.path.write_text(text, errors="surrogateescape")
        with pytest.raises(errors.StateFileError) as info:
            DeployJob.load(job.path)
        assert str(job.path) in info.value.message and info.value.fix


def test_an_older_damaged_job_does_not_hide_the_latest_one(tmp_path, make_job, cfg):
    job = make_job(cfg)
    old = job.path.with_name("20000101-000000-abcdef.json")
    old.write_text('{"job_id": "20000101-000000-abc')
    latest = DeployJob.latest(job.path.parent, strict=True)
    assert latest is not None and latest.path == job.path
    _truncate(job.path)  # now the newest job file is the damaged one
    assert DeployJob.latest(job.path.parent) is None  # the page: skips it
    with pytest.raises(errors.StateFileError):
        DeployJob.latest(job.path.parent, strict=True)  # the CLI: names it


def test_a_failed_write_keeps_the_previous_state_and_leaves_no_temp_file(make_job, cfg, monkeypatch):
    job = make_job(cfg)
    before = job.path.read_text()

    def disk_full(_fd):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "fsync", disk_full)
    with pytest.raises(OSError):
        job._record(ev.Notice("not saved"))
    assert job.path.read_text() == before
    assert not [p for p in job.path.parent.iterdir() if p.name.endswith(".tmp")]
