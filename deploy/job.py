"""A deploy as a resumable job.

Its state (step reached, build id, operation names, URL, recent events) lives
in a small JSON file, saved after every change, so a new process (a reloaded
page) can load it and carry on following whatever is still running. Every
create call happens under a file lock after re-reading the state, so two
followers never start two builds.
"""

from __future__ import annotations

import fcntl
import json
import os
import secrets
import time
from collections.abc import Callable, Generator, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path

from deploy import artifactregistry, catalog, cloudbuild, cloudrun, iam, operations, serviceusage
from deploy.config import DEFAULT_STATE_DIR, DeployConfig
from deploy.errors import AlreadyExistsError, BuildFailedError, DeployError, NotFoundError
from deploy.events import (
    BuildStatus,
    Done,
    Event,
    Failed,
    LogLines,
    Notice,
    StepFinished,
    StepStarted,
)
from deploy.events import from_dict as event_from_dict
from deploy.http import GoogleHttp

STEPS = (
    ("apis", "Enable the APIs"),
    ("repository", "Artifact Registry repository"),
    ("build", "Build the Ollama image with Cloud Build"),
    ("service", "Deploy the Cloud Run GPU service"),
    ("invoker", "Allow calls with an ID token (run.invoker)"),
)
KEEP_EVENTS = 300
KEEP_LOG_LINES = 60
_BUILD_FIELDS = ("build_id", "build_operation", "build_status", "log_url", "logs_bucket",
                 "log_offset", "log_unreadable")
# What another follower may have learnt meanwhile; a save never forgets these.
_STICKY = ("apis_operation", "repo_operation", "repository_created", "build_id",
           "build_operation", "log_url", "logs_bucket", "image", "service_operation",
           "service_existed", "service_url")


@dataclass
class JobState:
    job_id: str
    config: dict
    status: str = "pending"  # pending | running | succeeded | failed | cleaned
    step: str = ""
    completed: list[str] = field(default_factory=list)
    apis_operation: str = ""
    repo_operation: str = ""
    repository_created: bool = False
    build_id: str = ""
    build_operation: str = ""
    build_status: str = ""
    log_url: str = ""
    logs_bucket: str = ""
    log_offset: int = 0
    log_unreadable: bool = False
    image: str = ""
    service_operation: str = ""
    service_existed: bool = False
    service_url: str = ""
    failed_operations: list[str] = field(default_factory=list)
    error: dict | None = None
    log_tail: list[str] = field(default_factory=list)
    events: list[dict] = field(default_factory=list)
    created_at: float = field(default_factory=time.time)
    updated_at: float = field(default_factory=time.time)

    @classmethod
    def read(cls, path: Path) -> JobState:
        data = json.loads(Path(path).read_text())
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in known})

    def write(self, path: Path) -> None:
        self.updated_at = time.time()
        tmp = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}.tmp")
        tmp.write_text(json.dumps(asdict(self), indent=1))
        os.replace(tmp, path)  # readers never see half a file


class DeployJob:
    """Deploy (or clean up) one Ollama service; iterate run() for progress events."""

    def __init__(self, state: JobState, path: Path, *, http: GoogleHttp | None = None,
                 credentials=None, endpoints=None, poll_interval: float = 5.0,
                 sleep: Callable[[float], None] = time.sleep):
        self.state = state
        self.path = Path(path)
        self._http = http
        self._credentials = credentials
        self._endpoints = endpoints
        self.poll_interval = poll_interval
        self._sleep = sleep
        self._locked = False
        self._cleared: set[str] = set()  # sticky fields forgotten on purpose (retry)

    # Construction ------------------------------------------------------------
    @classmethod
    def create(cls, config: DeployConfig, state_dir: Path = DEFAULT_STATE_DIR,
               **kwargs) -> DeployJob:
        job_id = time.strftime("%Y%m%d-%H%M%S") + "-" + secrets.token_hex(3)
        if not config.use_prebuilt and config.image_tag == "latest":
            config = config.with_changes(image_tag=job_id)  # a new tag = a new revision
        config.validate()
        state_dir = Path(state_dir)
        state_dir.mkdir(parents=True, exist_ok=True)
        job = cls(JobState(job_id, config.to_dict()), state_dir / f"{job_id}.json", **kwargs)
        job._save()
        return job

    @classmethod
    def load(cls, path: Path, **kwargs) -> DeployJob:
        return cls(JobState.read(Path(path)), Path(path), **kwargs)

    @classmethod
    def latest(cls, state_dir: Path = DEFAULT_STATE_DIR, **kwargs) -> DeployJob | None:
        """The most recent job (what a reloaded page should show), if any."""
        paths = sorted(Path(state_dir).glob("*.json"), key=lambda p: p.stat().st_mtime)
        return cls.load(paths[-1], **kwargs) if paths else None

    # Read-only views -----------------------------------------------------------
    @property
    def config(self) -> DeployConfig:
        return DeployConfig.from_dict(self.state.config)

    @property
    def status(self) -> str:
        return self.state.status

    @property
    def url(self) -> str:
        return self.state.service_url

    @property
    def finished(self) -> bool:
        return self.state.status in ("succeeded", "failed", "cleaned")

    def history(self) -> list[Event]:
        """Events so far (kept in the state file) for a page that just reloaded."""
        return [event_from_dict(e) for e in self.state.events]

    @property
    def http(self) -> GoogleHttp:
        if self._http is None:
            self._http = GoogleHttp(self._credentials, self._endpoints, sleep=self._sleep)
        return self._http

    # Running -------------------------------------------------------------------
    def run(self) -> Iterator[Event]:
        """Do (or resume) every step; yields events; ends with Done or Failed."""
        if self.state.status == "succeeded":
            yield Done(self.state.service_url, self.config.service_name)
            return
        if self.state.status == "cleaned":
            yield Notice("This deploy was cleaned up; start a new one.", "warning")
            return
        self._prepare_retry()
        self._update(status="running", error=None)
        for step, title in STEPS:
            if step in self.state.completed:
                continue
            self._update(step=step)
            yield self._record(StepStarted(step, title))
            try:
                detail = yield from self._run_step(step)
            except DeployError as err:
                yield self._fail(step, err)
                return
            except Exception as err:  # a bug: record it for the page, then surface it
                yield self._fail(step, DeployError(f"Unexpected error: {err!r}",
                                                   "Report this; the state file has details."))
                raise
            self.state.completed.append(step)
            yield self._record(StepFinished(step, title, detail))
        self._update(status="succeeded")
        yield self._record(Done(self.state.service_url, self.config.service_name))

    def _run_step(self, step: str) -> Generator[Event, None, str]:
        handler = {"apis": self._apis, "repository": self._repository, "build": self._build,
                   "service": self._service, "invoker": self._invoker}[step]
        return (yield from handler())

    def _prepare_retry(self) -> None:
        """After a failure, forget only what is known dead, then resume."""
        st = self.state
        if st.build_status and st.build_status != "SUCCESS" and \
                st.build_status in cloudbuild.TERMINAL:
            for name in _BUILD_FIELDS:
                setattr(st, name, JobState.__dataclass_fields__[name].default)
                self._cleared.add(name)
            st.log_tail = []
        for attr in ("apis_operation", "repo_operation", "service_operation"):
            if getattr(st, attr) in st.failed_operations:
                setattr(st, attr, "")
                self._cleared.add(attr)

    # Steps -----------------------------------------------------------------------
    def _apis(self) -> Generator[Event, None, str]:
        cfg = self.config
        wanted = catalog.required_apis(cfg.use_prebuilt)
        if not self.state.apis_operation:
            off = serviceusage.disabled(self.http.send(
                serviceusage.batch_get(cfg.project, wanted)), wanted)
            if not off:
                return "already enabled: " + ", ".join(wanted)
            with self._exclusive():
                if not self.state.apis_operation:
                    op = self.http.send(serviceusage.batch_enable(cfg.project, off))
                    self._update(apis_operation=op["name"])
            yield self._record(Notice(f"Enabling {', '.join(off)} (about a minute)."))
        yield from self._wait("serviceusage", "v1", self.state.apis_operation)
        return "enabled"

    def _repository(self) -> Generator[Event, None, str]:
        cfg = self.config
        if cfg.use_prebuilt:
            return "not needed: prebuilt image"
        if not self.state.repo_operation:
            try:
                self.http.send(artifactregistry.get_repository(cfg))
                return f"reusing {cfg.repository}"
            except NotFoundError:
                pass
            with self._exclusive():
                if not self.state.repo_operation:
                    try:
                        op = self.http.send(artifactregistry.create_repository(cfg))
                    except AlreadyExistsError:
                        return f"reusing {cfg.repository}"
                    self._update(repo_operation=op["name"], repository_created=True)
        yield from self._wait("artifactregistry", "v1", self.state.repo_operation)
        return f"created {cfg.repository}"

    def _build(self) -> Generator[Event, None, str]:
        cfg = self.config
        if cfg.use_prebuilt:
            self._update(image=cfg.image)
            return f"skipped: using the prebuilt {cfg.image}"
        if not self.state.build_id:
            with self._exclusive():
                if not self.state.build_id:
                    op = self.http.send(cloudbuild.create_build(cfg))
                    build = (op.get("metadata") or {}).get("build") or {}
                    self._update(build_id=build["id"], build_operation=op.get("name", ""),
                                 log_url=build.get("logUrl", ""),
                                 logs_bucket=build.get("logsBucket", ""))
        build = yield from self._follow_build()
        image = cloudbuild.built_image(build, cfg.image)
        self._update(image=image)
        return f"built {image}"

    def _follow_build(self) -> Generator[Event, None, dict]:
        cfg, last = self.config, None
        while True:
            build = self.http.send(cloudbuild.get_build(cfg, self.state.build_id))
            status = build.get("status", "STATUS_UNKNOWN")
            seen = (status, cloudbuild.step_statuses(build))
            if seen != last:
                last = seen
                self._update(build_status=status, log_url=build.get("logUrl", self.state.log_url),
                             logs_bucket=build.get("logsBucket") or self.state.logs_bucket)
                yield self._record(BuildStatus(self.state.build_id, status, self.state.log_url,
                                               seen[1]))
            yield from self._tail_log()
            if status in cloudbuild.TERMINAL:
                break
            self._sleep(self.poll_interval)
        if status != "SUCCESS":
            raise BuildFailedError(
                f"The image build ended with {status}: {cloudbuild.failure_reason(build)}",
                "Read the log tail below (the full log is at the link). A wrong model name "
                "shows up as a failed pull; fix the model and deploy again.",
                log_tail=tuple(self.state.log_tail[-30:]), log_url=self.state.log_url,
                status=status)
        return build

    def _tail_log(self) -> Generator[Event, None, None]:
        st = self.state
        if not st.logs_bucket or st.log_unreadable:
            return
        req = cloudbuild.read_log(st.logs_bucket, st.build_id)
        try:
            resp = self.http.send_raw(req, headers={"Range": f"bytes={st.log_offset}-"},
                                      ok_statuses=(404, 416))
        except DeployError as err:  # no read access: the page still links the log
            self._update(log_unreadable=True)
            yield self._record(Notice(f"Cannot read the build log ({err.message}); "
                                      f"follow it at {st.log_url}", "warning"))
            return
        if resp.status_code not in (200, 206):
            return  # 404: not written yet; 416: nothing new
        chunk = resp.content
        if resp.status_code == 200:  # the Range was ignored: the whole object came back
            chunk = chunk[st.log_offset:]
        end = chunk.rfind(b"\n") + 1  # only whole lines; the rest comes next time
        if end == 0:
            return
        lines = chunk[:end].decode("utf-8", "replace").splitlines()
        self._update(log_offset=st.log_offset + end,
                     log_tail=(st.log_tail + lines)[-KEEP_LOG_LINES:])
        yield self._record(LogLines(tuple(lines)))

    def _service(self) -> Generator[Event, None, str]:
        cfg = self.config
        image = self.state.image or cfg.image
        if not self.state.service_operation:
            with self._exclusive():
                if not self.state.service_operation:
                    op, existed = self._create_or_update(cfg, image)
                    self._update(service_operation=op["name"], service_existed=existed)
        service = yield from self._wait("run", "v2", self.state.service_operation)
        url = service.get("uri") or self.http.send(cloudrun.get_service(cfg)).get("uri", "")
        self._update(service_url=url)
        verb = "updated" if self.state.service_existed else "created"
        return f"{verb} {cfg.service_name} at {url}"

    def _create_or_update(self, cfg: DeployConfig, image: str) -> tuple[dict, bool]:
        try:
            self.http.send(cloudrun.get_service(cfg))
        except NotFoundError:
            try:
                return self.http.send(cloudrun.create_service(cfg, image)), False
            except AlreadyExistsError:
                pass  # created meanwhile: update it instead
        return self.http.send(cloudrun.update_service(cfg, image)), True

    def _invoker(self) -> Generator[Event, None, str]:
        cfg = self.config
        members = list(cfg.invoker_members)
        if not members:
            granted = self.http.send(cloudrun.test_permissions(cfg, ["run.routes.invoke"]))
            if "run.routes.invoke" in granted.get("permissions", []):
                return "you can already invoke it"
            member = iam.caller_member(self.http.credentials, self.http.endpoints)
            if member is None:
                yield self._record(Notice(
                    "Could not tell which account you are; grant yourself access with "
                    f"`gcloud run services add-iam-policy-binding {cfg.service_name} "
                    f"--region {cfg.region} --member=user:YOU --role={cloudrun.INVOKER}`.",
                    "warning"))
                return "skipped"
            members = [member]
        added = cloudrun.grant_invoker(self.http, cfg, members)
        if not added:
            return "already granted to " + ", ".join(members)
        return f"granted {cloudrun.INVOKER} to " + ", ".join(added)

    # Clean-up ---------------------------------------------------------------------
    def cleanup(self, *, delete_image: bool = False,
                delete_repository: bool = False) -> Iterator[Event]:
        """Delete the service; optionally the image and (if this job made it) the repo."""
        cfg = self.config
        yield self._record(StepStarted("cleanup", "Clean up"))
        try:
            done = [(yield from self._delete(cloudrun.delete_service(cfg), "run", "v2"))]
            if delete_image and not cfg.use_prebuilt:
                done.append((yield from self._delete(
                    artifactregistry.delete_image(cfg), "artifactregistry", "v1")))
            if delete_repository and self.state.repository_created:
                done.append((yield from self._delete(
                    artifactregistry.delete_repository(cfg), "artifactregistry", "v1")))
            elif delete_repository:
                yield self._record(Notice(f"Kept {cfg.repository}: this job did not create it."))
        except DeployError as err:
            yield self._fail("cleanup", err)
            return
        self._update(status="cleaned")
        yield self._record(StepFinished("cleanup", "Clean up", "; ".join(done)))

    def _delete(self, req, api: str, version: str) -> Generator[Event, None, str]:
        try:
            op = self.http.send(req)
        except NotFoundError:
            return f"{req.path.rsplit('/', 1)[-1]} was already gone"
        if op.get("name") and not op.get("done"):
            yield from self._wait(api, version, op["name"])
        return f"deleted {req.path.rsplit('/', 1)[-1]}"

    # Plumbing -----------------------------------------------------------------------
    def _wait(self, api: str, version: str, name: str) -> Generator[Event, None, dict]:
        try:
            result = yield from operations.wait(
                self.http, {"name": name}, api=api, version=version, sleep=self._sleep,
                interval=self.poll_interval, context=_context(self.config))
        except DeployError:
            self.state.failed_operations.append(name)
            raise
        return result

    def _fail(self, step: str, err: DeployError) -> Failed:
        self._update(status="failed", error={"step": step, **err.to_dict()})
        return self._record(Failed(step, err.message, err.fix, err.kind,
                                   tuple(getattr(err, "log_tail", ()))))

    def _record(self, event: Event) -> Event:
        self.state.events = ([*self.state.events, event.to_dict()])[-KEEP_EVENTS:]
        self._save()
        return event

    def _update(self, **changes) -> None:
        for key, value in changes.items():
            setattr(self.state, key, value)
        self._save()

    def _save(self) -> None:
        with self._file_lock():
            if self.path.exists():
                self._adopt(JobState.read(self.path))
            self.state.write(self.path)

    def _adopt(self, disk: JobState) -> None:
        """Keep what another follower saved (ids, finished steps) unless we cleared it."""
        for name in _STICKY:
            if not getattr(self.state, name) and getattr(disk, name) and \
                    name not in self._cleared:
                setattr(self.state, name, getattr(disk, name))
        done = set(self.state.completed) | set(disk.completed)
        self.state.completed = [step for step, _ in STEPS if step in done]

    @contextmanager
    def _file_lock(self):
        """An exclusive lock on the job across processes (re-entrant within this object)."""
        if self._locked:
            yield
            return
        with open(self.path.with_suffix(".lock"), "w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            self._locked = True
            try:
                yield
            finally:
                self._locked = False
                fcntl.flock(lock, fcntl.LOCK_UN)

    @contextmanager
    def _exclusive(self):
        """Lock and re-read the job, so each create call happens once."""
        with self._file_lock():
            if self.path.exists():
                self._adopt(JobState.read(self.path))
            yield


def _context(cfg: DeployConfig) -> dict:
    return {"project": cfg.project, "region": cfg.region, "gpu": cfg.gpu_type}
