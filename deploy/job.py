"""A deploy as a resumable job.

Its state (step reached, build id, operation names, URL, recent events) lives
in a small JSON file, saved after every change, so a new process (a reloaded
page) can load it and carry on following whatever is still running. Every
create call happens under a file lock after re-reading the state, so two
followers never start two builds; every save merges what other followers saved
(deploy/jobstate.py). The last step loads the model with one authenticated
call (deploy/warm.py): a deploy succeeds only if the model answers.

The vLLM engine (deploy/vllm.py) runs the same job without a repository or a
build (its image is prebuilt), and with a Secret Manager grant when its weights
come from Hugging Face; the same persisted operations make it resumable.
"""

from __future__ import annotations

import fcntl
import secrets
import time
from collections.abc import Callable, Generator, Iterator
from contextlib import contextmanager
from pathlib import Path

from deploy import (
    artifactregistry,
    catalog,
    cloudbuild,
    cloudrun,
    errors,
    iam,
    operations,
    roles,
    secretmanager,
    serviceusage,
    vllm,
    warm,
)
from deploy.api import ApiRequest
from deploy.config import DEFAULT_STATE_DIR, DeployConfig
from deploy.errors import AlreadyExistsError, BuildFailedError, DeployError, NotFoundError
from deploy.events import (
    BuildStatus,
    Done,
    Event,
    Failed,
    LogLines,
    Notice,
    OperationProgress,
    StepFinished,
    StepStarted,
)
from deploy.events import from_dict as event_from_dict
from deploy.http import GoogleHttp
from deploy.jobstate import KEEP_LOG_LINES, JobState, latest_path, merge, number_events

STEPS = (
    ("apis", "Enable the APIs"),
    ("repository", "Artifact Registry repository"),
    ("build", "Build the Ollama image with Cloud Build"),
    ("service", "Deploy the Cloud Run GPU service"),
    ("invoker", "Allow calls with an ID token (run.invoker)"),
    ("warm", "Load the model (one authenticated call)"),
)
VLLM_STEPS = (
    ("apis", "Enable the APIs"),
    ("secret", "Let the service read the Hugging Face token"),
    ("service", "Deploy the vLLM Cloud Run GPU service"),
    ("invoker", "Allow calls with an ID token (run.invoker)"),
    ("warm", "Load the model (OpenAI API: /v1/models, one chat)"),
)
STEP_ORDER = ("apis", "repository", "build", "secret", "service", "invoker", "warm")


def steps_for(cfg: DeployConfig) -> tuple[tuple[str, str], ...]:
    """The engine's steps; vLLM's Secret Manager grant only when the weights come from the Hub."""
    if cfg.engine != "vllm":
        return STEPS
    return tuple(s for s in VLLM_STEPS if s[0] != "secret" or cfg.hf_token_secret)


_BUILD_FIELDS = (
    "build_id",
    "build_operation",
    "build_status",
    "log_url",
    "logs_bucket",
    "log_offset",
    "log_unreadable",
)
MANAGED_LABEL = ("managed-by", "workshop-deploy")  # on what this app creates


class DeployJob:
    """Deploy (or clean up) one Ollama or vLLM service; iterate run() for progress events."""

    def __init__(
        self,
        state: JobState,
        path: Path,
        *,
        http: GoogleHttp | None = None,
        credentials=None,
        endpoints=None,
        poll_interval: float = 5.0,
        sleep: Callable[[float], None] = time.sleep,
    ):
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
    def create(cls, config: DeployConfig, state_dir: Path = DEFAULT_STATE_DIR, **kwargs) -> DeployJob:
        job_id = time.strftime("%Y%m%d-%H%M%S") + "-" + secrets.token_hex(3)
        if config.builds_image and config.image_tag == "latest":
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
    def latest(
        cls, state_dir: Path = DEFAULT_STATE_DIR, *, strict: bool = False, **kwargs
    ) -> DeployJob | None:
        """The most recently created job (what a reloaded page should show), if any.
        strict: a damaged job file newer than every readable one raises StateFileError."""
        found = latest_path(Path(state_dir), strict=strict)
        return cls(found[1], found[0], **kwargs) if found else None

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
        return [event_from_dict({k: v for k, v in e.items() if k != "seq"}) for e in self.state.events]

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
        for step, title in steps_for(self.config):
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
                yield self._fail(
                    step,
                    DeployError(f"Unexpected error: {err!r}", "Report this; the state file has details."),
                )
                raise
            self.state.completed.append(step)
            yield self._record(StepFinished(step, title, detail))
        self._update(status="succeeded")
        yield self._record(Done(self.state.service_url, self.config.service_name))

    def _run_step(self, step: str) -> Generator[Event, None, str]:
        handler = {
            "apis": self._apis,
            "repository": self._repository,
            "build": self._build,
            "secret": self._secret,
            "service": self._service,
            "invoker": self._invoker,
            "warm": self._warm,
        }[step]
        return (yield from handler())

    def _prepare_retry(self) -> None:
        """After a failure, forget only what is known dead, then resume."""
        st = self.state
        if st.build_status and st.build_status != "SUCCESS" and st.build_status in cloudbuild.TERMINAL:
            for name in _BUILD_FIELDS:
                setattr(st, name, JobState.__dataclass_fields__[name].default)
                self._cleared.add(name)
            st.log_tail = []
        for attr in ("apis_operation", "repo_operation", "service_operation"):
            if getattr(st, attr) in st.failed_operations:
                setattr(st, attr, "")
                self._cleared.add(attr)
                if attr == "service_operation":  # that request is answered: send a new one
                    st.service_sent = ""
                    self._cleared.add("service_sent")

    # Steps -----------------------------------------------------------------------
    def _apis(self) -> Generator[Event, None, str]:
        cfg = self.config
        wanted = (
            vllm.required_apis(cfg.vllm_options())
            if cfg.engine == "vllm"
            else catalog.required_apis(cfg.use_prebuilt)
        )
        if not self.state.apis_operation:
            off = serviceusage.disabled(self.http.send(serviceusage.batch_get(cfg.project, wanted)), wanted)
            if not off:
                return "already enabled: " + ", ".join(wanted)
            with self._exclusive():
                if not self.state.apis_operation:
                    op = self.http.send(serviceusage.batch_enable(cfg.project, off))
                    self._update(apis_operation=op["name"])
            yield self._record(Notice(f"Enabling {', '.join(off)} (about a minute)."))
        yield from self._wait("serviceusage", "v1", self.state.apis_operation)
        return "enabled"

    def _secret(self) -> Generator[Event, None, str]:
        """vLLM without a bucket reads HF_TOKEN from Secret Manager as the runtime account.
        A read-modify-write on the etag: repeating it (a resume) adds nobody twice."""
        cfg = self.config
        number = (
            ""
            if cfg.service_account
            else self.http.send(vllm.get_project(cfg.project)).get("projectNumber", "")
        )
        member = vllm.runtime_member(cfg, number)
        added = secretmanager.grant_accessor(self.http, cfg.project, cfg.hf_token_secret, member)
        yield from ()  # a step like the others, with nothing long-running to report
        verb = "granted" if added else "already granted"
        return f"{verb} {secretmanager.ACCESSOR} on {cfg.hf_token_secret} to {member}"

    def _repository(self) -> Generator[Event, None, str]:
        cfg = self.config
        if cfg.use_prebuilt:
            return "not needed: prebuilt image"
        if not self.state.repo_operation:
            try:
                return self._reuse(self.http.send(artifactregistry.get_repository(cfg)))
            except NotFoundError:
                pass
            with self._exclusive():
                if not self.state.repo_operation:
                    try:
                        op = self.http.send(artifactregistry.create_repository(cfg))
                    except AlreadyExistsError:  # made meanwhile: read its labels
                        return self._reuse(self._repository_or_empty(cfg))
                    self._update(repo_operation=op["name"], repository_created=True)
        yield from self._wait("artifactregistry", "v1", self.state.repo_operation)
        return f"created {cfg.repository}"

    def _reuse(self, repo: dict) -> str:
        """An existing repository carrying this app's label counts as the app's, so a
        redeploy's clean-up may delete it; anyone else's is never deleted."""
        key, value = MANAGED_LABEL
        if (repo.get("labels") or {}).get(key) == value:
            self._update(repository_created=True)
            return f"reusing {self.config.repository} (made by this app)"
        return f"reusing {self.config.repository}"

    def _repository_or_empty(self, cfg: DeployConfig) -> dict:
        try:
            return self.http.send(artifactregistry.get_repository(cfg))
        except NotFoundError:
            return {}

    def _build(self) -> Generator[Event, None, str]:
        cfg = self.config
        if cfg.use_prebuilt:
            self._update(image=cfg.image)
            return f"skipped: using the prebuilt {cfg.image}"
        notice = None
        if not self.state.build_id:
            with self._exclusive():  # no yield while holding the lock
                if not self.state.build_id:
                    build, op_name, notice = self._find_or_create_build()
                    self._update(
                        build_id=build["id"],
                        build_operation=op_name,
                        log_url=build.get("logUrl", ""),
                        logs_bucket=build.get("logsBucket", ""),
                    )
        if notice:
            yield self._record(notice)
        build = yield from self._follow_build()
        image = cloudbuild.built_image(build, cfg.image)
        self._update(image=image)
        return f"built {image}"

    @property
    def build_config(self) -> DeployConfig:
        """The config with the region the build actually runs in (after a fallback)."""
        cfg = self.config
        return cfg.with_changes(build_location=self.state.build_region) if self.state.build_region else cfg

    def _find_or_create_build(self) -> tuple[dict, str, Notice | None]:
        """(build, operation name, notice). A create whose reply was lost (a timeout, a kill)
        may still have started a build: find it by the job's tag before creating another."""
        tag = cloudbuild.job_tag(self.state.job_id)
        if self.state.build_sent:
            found = cloudbuild.reusable(
                self.http.send(cloudbuild.find_builds(self.build_config, tag)).get("builds", [])
            )
            if found:
                return (
                    found,
                    "",
                    Notice(
                        f"Found build {found['id']}, started before this deploy "
                        "stopped; following it instead of starting another."
                    ),
                )
        op, notice = self._create_build(tag)
        return (op.get("metadata") or {}).get("build") or {}, op.get("name", ""), notice

    def _create_build(self, tag: str) -> tuple[dict, Notice | None]:
        """Create the build; if Cloud Build refuses the region, once more in the fallback.
        Where a create goes is saved before it is sent, so a resume knows where to look."""
        cfg = self.build_config
        self._update(build_sent=True)
        try:
            return self.http.send(cloudbuild.create_build(cfg, tag)), None
        except DeployError as err:
            if not cloudbuild.location_refused(err):
                raise
            if cfg.build_region == catalog.FALLBACK_BUILD_REGION:
                raise cloudbuild.location_error(cfg, err) from err
        fallback = catalog.FALLBACK_BUILD_REGION
        self._update(build_region=fallback)
        try:
            op = self.http.send(cloudbuild.create_build(cfg.with_changes(build_location=fallback), tag))
        except DeployError as err:
            if cloudbuild.location_refused(err):
                raise cloudbuild.location_error(cfg, err) from err
            raise
        return op, Notice(
            f"Cloud Build does not run builds in {cfg.build_region} for this project; "
            f"building in {fallback} instead (the image still goes to the "
            f"repository in {cfg.region}).",
            "warning",
        )

    def _follow_build(self) -> Generator[Event, None, dict]:
        cfg, last = self.build_config, None
        while True:
            build = self.http.send(cloudbuild.get_build(cfg, self.state.build_id))
            status = build.get("status", "STATUS_UNKNOWN")
            seen = (status, cloudbuild.step_statuses(build))
            if seen != last:
                last = seen
                self._update(
                    build_status=status,
                    log_url=build.get("logUrl", self.state.log_url),
                    logs_bucket=build.get("logsBucket") or self.state.logs_bucket,
                )
                yield self._record(BuildStatus(self.state.build_id, status, self.state.log_url, seen[1]))
            yield from self._tail_log()
            if status in cloudbuild.TERMINAL:
                break
            self._sleep(self.poll_interval)
        if status != "SUCCESS":
            raise BuildFailedError(
                f"The image build ended with {status}: {cloudbuild.failure_reason(build)}",
                "Read the log tail below (the full log is at the link). A wrong model name "
                "shows up as a failed pull; fix the model and deploy again.",
                log_tail=tuple(self.state.log_tail[-30:]),
                log_url=self.state.log_url,
                status=status,
            )
        return build

    def _tail_log(self) -> Generator[Event, None, None]:
        self._catch_up()  # another follower may have read further: start from there
        st = self.state
        if not st.logs_bucket or st.log_unreadable:
            return
        req = cloudbuild.read_log(st.logs_bucket, st.build_id)
        try:
            resp = self.http.send_raw(
                req, headers={"Range": f"bytes={st.log_offset}-"}, ok_statuses=(404, 416)
            )
        except DeployError as err:  # no read access: the page still links the log
            self._update(log_unreadable=True)
            yield self._record(
                Notice(f"Cannot read the build log ({err.message}); follow it at {st.log_url}", "warning")
            )
            return
        if resp.status_code not in (200, 206):
            return  # 404: not written yet; 416: nothing new
        chunk = resp.content
        if resp.status_code == 200:  # the Range was ignored: the whole object came back
            chunk = chunk[st.log_offset :]
        end = chunk.rfind(b"\n") + 1  # only whole lines; the rest comes next time
        if end == 0:
            return
        lines = chunk[:end].decode("utf-8", "replace").splitlines()
        self._update(log_offset=st.log_offset + end, log_tail=(st.log_tail + lines)[-KEEP_LOG_LINES:])
        yield self._record(LogLines(tuple(lines)))

    def _service(self) -> Generator[Event, None, str]:
        cfg = self.config
        image = self.state.image or cfg.image
        landed = False
        if not self.state.service_operation:
            with self._exclusive():
                if not self.state.service_operation:
                    landed = self._sent_request_landed(cfg, image)
                    if not landed:
                        op, existed = self._create_or_update(cfg, image)
                        self._update(service_operation=op["name"], service_existed=existed)
        if landed:  # its operation's name never arrived: follow the service itself
            service = yield from self._follow_service(cfg)
        else:
            service = yield from self._wait("run", "v2", self.state.service_operation)
        url = service.get("uri") or self.http.send(cloudrun.get_service(cfg)).get("uri", "")
        self._update(service_url=url)
        verb = "updated" if self.state.service_existed else "created"
        return f"{verb} {cfg.service_name} at {url}"

    def _create_or_update(self, cfg: DeployConfig, image: str) -> tuple[dict, bool]:
        """Each request is marked as sent (saved) before it goes out: see _sent_request_landed."""
        try:
            current = self.http.send(cloudrun.get_service(cfg))
        except NotFoundError:
            try:
                self._update(service_sent="create")
                return self.http.send(_create_service(cfg, image)), False
            except AlreadyExistsError:  # created meanwhile: update it instead
                current = self.http.send(cloudrun.get_service(cfg))
        self._update(service_sent=f"patch {current.get('generation', '0')}")
        return self.http.send(_update_service(cfg, image)), True

    def _sent_request_landed(self, cfg: DeployConfig, image: str) -> bool:
        """Did a create/patch sent before a kill or a lost reply reach Cloud Run? Yes if the
        service now runs this image (and, for a patch, has a newer generation)."""
        verb, _, before = self.state.service_sent.partition(" ")
        if not verb:
            return False
        try:
            service = self.http.send(cloudrun.get_service(cfg))
        except NotFoundError:
            return False
        containers = (service.get("template") or {}).get("containers") or [{}]
        newer = verb == "create" or int(service.get("generation") or 0) > int(before or 0)
        if not newer or containers[0].get("image") != image:
            return False
        self._update(service_existed=verb == "patch")
        return True

    def _follow_service(self, cfg: DeployConfig) -> Generator[Event, None, dict]:
        """Poll the service until Cloud Run stops reconciling it; its terminalCondition
        says whether the revision started (what the operation would have said)."""
        deadline = time.monotonic() + operations.WAIT_LIMIT_S
        while True:
            service = self.http.send(cloudrun.get_service(cfg))
            done = not service.get("reconciling")
            detail = "; ".join(
                f"{c['type']}: {c.get('state', '').removeprefix('CONDITION_').lower()}"
                for c in service.get("conditions") or []
                if c.get("type")
            )
            yield OperationProgress(service.get("name", ""), done, detail)
            if done:
                break
            if time.monotonic() > deadline:
                raise operations.still_running(service.get("name", cfg.service_name))
            self._sleep(self.poll_interval)
        condition = service.get("terminalCondition") or {}
        if condition.get("state") != "CONDITION_SUCCEEDED":
            self.state.service_sent = ""  # that revision failed: a retry sends a new one
            self._cleared.add("service_sent")
            raise errors.from_status(
                {
                    "code": 9,
                    "message": condition.get("message")
                    or f"the service ended {condition.get('state', 'unknown')}",
                },
                _context(cfg),
            )
        return service

    def _invoker(self) -> Generator[Event, None, str]:
        cfg = self.config
        members = list(cfg.invoker_members)
        if not members:
            granted = self.http.send(cloudrun.test_permissions(cfg, [roles.INVOKE]))
            if roles.INVOKE in granted.get("permissions", []):
                return "you can already invoke it"
            member = iam.caller_member(self.http.credentials, self.http.endpoints)
            if member is None:
                yield self._record(
                    Notice(
                        "Could not tell which account you are; grant yourself access with "
                        f"`gcloud run services add-iam-policy-binding {cfg.service_name} "
                        f"--region {cfg.region} --member=user:YOU --role={cloudrun.INVOKER}`.",
                        "warning",
                    )
                )
                return "skipped"
            members = [member]
        added = cloudrun.grant_invoker(self.http, cfg, members)
        if not added:
            return "already granted to " + ", ".join(members)
        return f"granted {cloudrun.INVOKER} to " + ", ".join(added)

    def _warm(self) -> Generator[Event, None, str]:
        """Only a model that loads makes a deploy succeed (the TCP probe cannot tell)."""
        cfg = self.config
        yield self._record(Notice(f"Loading {cfg.model} into GPU memory; a cold start takes a few minutes."))
        seconds = yield from warm.load_model(
            self.state.service_url,
            cfg.model,
            timeout_s=cfg.timeout_s + 30,
            logs_url=cloudrun.logs_url(cfg),
            credentials=self.http.credentials,
            sleep=self._sleep,
            api=warm.OPENAI if cfg.engine == "vllm" else warm.OLLAMA,
        )
        return f"{cfg.model} answered in {seconds:.0f} s"

    # Clean-up ---------------------------------------------------------------------
    def cleanup(self, *, delete_image: bool = False, delete_repository: bool = False) -> Iterator[Event]:
        """Delete the service; optionally the image and (if this app made it) the repo."""
        cfg = self.config
        yield self._record(StepStarted("cleanup", "Clean up"))
        try:
            done = [(yield from self._delete(cloudrun.delete_service(cfg), "run", "v2"))]
            if delete_image and cfg.builds_image:
                done.append(
                    (yield from self._delete(artifactregistry.delete_image(cfg), "artifactregistry", "v1"))
                )
            if delete_repository and self.state.repository_created:
                done.append(
                    (
                        yield from self._delete(
                            artifactregistry.delete_repository(cfg), "artifactregistry", "v1"
                        )
                    )
                )
            elif delete_repository:
                yield self._record(Notice(f"Kept {cfg.repository}: this app did not create it."))
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
                self.http,
                {"name": name},
                api=api,
                version=version,
                sleep=self._sleep,
                interval=self.poll_interval,
                context=_context(self.config),
            )
        except DeployError as err:
            if err.operation == name:  # it ended in error; a failed poll says nothing of it
                self.state.failed_operations.append(name)
            raise
        return result

    def _fail(self, step: str, err: DeployError) -> Failed:
        self._update(status="failed", error={"step": step, **err.to_dict()})
        return self._record(Failed(step, err.message, err.fix, err.kind, tuple(getattr(err, "log_tail", ()))))

    def _record(self, event: Event) -> Event:
        self.state.events.append(event.to_dict())  # numbered when saved, under the lock
        self._save()
        return event

    def _update(self, **changes) -> None:
        for key, value in changes.items():
            setattr(self.state, key, value)
        self._save()

    def _save(self) -> None:
        with self._file_lock():
            self._catch_up()
            self.state.events = number_events(self.state.events)
            self.state.write(self.path)

    def _catch_up(self) -> None:
        """Merge in what other followers saved (under the lock)."""
        with self._file_lock():
            if self.path.exists():
                self._adopt(JobState.read(self.path))

    def _adopt(self, disk: JobState) -> None:
        """Merge what another follower saved (ids, steps, log position, events)."""
        merge(self.state, disk, self._cleared, list(STEP_ORDER))

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
            self._catch_up()
            yield


def _create_service(cfg: DeployConfig, image: str) -> ApiRequest:
    return (
        vllm.create_service(cfg, cfg.vllm_options())
        if cfg.engine == "vllm"
        else cloudrun.create_service(cfg, image)
    )


def _update_service(cfg: DeployConfig, image: str) -> ApiRequest:
    return (
        vllm.update_service(cfg, cfg.vllm_options())
        if cfg.engine == "vllm"
        else cloudrun.update_service(cfg, image)
    )


def _context(cfg: DeployConfig) -> dict:
    return {"project": cfg.project, "region": cfg.region, "gpu": cfg.gpu_type}
