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

This module runs the steps, retries and cleans up; the state, its lock and the events
are deploy/jobbase.py's; the repository and build steps deploy/jobbuild.py's; the
service, invoker and warm-up steps deploy/jobservice.py's.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Generator, Iterator
from pathlib import Path
from typing import Any

from . import artifactregistry, catalog, cloudbuild, cloudrun, secretmanager, serviceusage, vllm
from .api import ApiRequest
from .config import DeployConfig
from .config import state_dir as configured_state_dir
from .errors import DeployError, NotFoundError
from .events import Done, Event, Notice, StepFinished, StepStarted
from .events import from_dict as event_from_dict
from .jobbase import STEP_ORDER
from .jobbuild import BuildSteps
from .jobservice import ServiceSteps
from .jobstate import JobState, latest_path

__all__ = ["STEPS", "STEP_ORDER", "VLLM_STEPS", "DeployJob", "steps_for"]

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


class DeployJob(BuildSteps, ServiceSteps):
    """Deploy (or clean up) one Ollama or vLLM service; iterate run() for progress events.

    The steps come from BuildSteps (repository, build) and ServiceSteps (service, invoker,
    warm-up); the state, the lock and the events from their JobBase."""

    # Construction ------------------------------------------------------------
    @classmethod
    def create(cls, config: DeployConfig, state_dir: Path | None = None, **kwargs: Any) -> DeployJob:
        job_id = time.strftime("%Y%m%d-%H%M%S") + "-" + secrets.token_hex(3)
        if config.builds_image and config.image_tag == "latest":
            config = config.with_changes(image_tag=job_id)  # a new tag = a new revision
        config.validate()
        state_dir = Path(state_dir or configured_state_dir())  # None: DEPLOY_STATE_DIR
        state_dir.mkdir(parents=True, exist_ok=True)
        job = cls(JobState(job_id, config.to_dict()), state_dir / f"{job_id}.json", **kwargs)
        job._save()
        return job

    @classmethod
    def load(cls, path: Path, **kwargs: Any) -> DeployJob:
        return cls(JobState.read(Path(path)), Path(path), **kwargs)

    @classmethod
    def latest(
        cls, state_dir: Path | None = None, *, strict: bool = False, **kwargs: Any
    ) -> DeployJob | None:
        """The most recently created job (what a reloaded page should show), if any.
        strict: a damaged job file newer than every readable one raises StateFileError."""
        found = latest_path(Path(state_dir or configured_state_dir()), strict=strict)
        return cls(found[1], found[0], **kwargs) if found else None

    # Read-only views -----------------------------------------------------------
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

    # Clean-up ---------------------------------------------------------------------
    def cleanup(self, *, delete_image: bool = False, delete_repository: bool = False) -> Iterator[Event]:
        """Delete the service; optionally the image and (if this app made it) the repo."""
        cfg = self.config
        yield self._record(StepStarted("cleanup", "Clean up"))
        deletes = [cloudrun.delete_service(cfg)]
        if delete_image and cfg.builds_image:
            deletes.append(artifactregistry.delete_image(cfg))
        if delete_repository and self.state.repository_created:
            deletes.append(artifactregistry.delete_repository(cfg))
        try:
            done = []
            for req in deletes:
                done.append((yield from self._delete(req)))
            if delete_repository and not self.state.repository_created:
                yield self._record(Notice(f"Kept {cfg.repository}: this app did not create it."))
        except DeployError as err:
            yield self._fail("cleanup", err)
            return
        self._update(status="cleaned")
        yield self._record(StepFinished("cleanup", "Clean up", "; ".join(done)))

    def _delete(self, req: ApiRequest) -> Generator[Event, None, str]:
        """Send a delete and wait for its operation (the request names its API and version)."""
        try:
            op = self.http.send(req)
        except NotFoundError:
            return f"{req.path.rsplit('/', 1)[-1]} was already gone"
        if op.get("name") and not op.get("done"):
            yield from self._wait(req.api, req.version, op["name"])
        return f"deleted {req.path.rsplit('/', 1)[-1]}"
