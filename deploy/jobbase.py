"""What every step of a deploy job shares: its state on disk, the lock, events, waiting.

A job's state is a JSON file (deploy/jobstate.py), saved after every change under an
exclusive file lock, merging what other followers (another tab, a resumed process) saved.
The steps themselves are in deploy/jobbuild.py, deploy/jobservice.py and deploy/job.py.
"""

from __future__ import annotations

import fcntl
import time
from collections.abc import Callable, Generator, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from google.auth.credentials import Credentials

from . import operations
from .config import DeployConfig, Endpoints
from .errors import DeployError
from .events import Event, Failed
from .http import GoogleHttp
from .jobstate import JobState, merge, number_events

# Every step of either engine, in order: merging two followers' completed steps keeps it.
STEP_ORDER = ("apis", "repository", "build", "secret", "service", "invoker", "warm")


class JobBase:
    """A job's state, saved and merged under a lock; the steps build on it."""

    def __init__(
        self,
        state: JobState,
        path: Path,
        *,
        http: GoogleHttp | None = None,
        credentials: Credentials | None = None,
        endpoints: Endpoints | None = None,
        poll_interval: float = 5.0,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.state = state
        self.path = Path(path)
        self._http = http
        self._credentials = credentials
        self._endpoints = endpoints
        self.poll_interval = poll_interval
        self._sleep = sleep
        self._locked = False
        self._cleared: set[str] = set()  # sticky fields forgotten on purpose (retry)

    @property
    def config(self) -> DeployConfig:
        return DeployConfig.from_dict(self.state.config)

    @property
    def http(self) -> GoogleHttp:
        if self._http is None:
            self._http = GoogleHttp(self._credentials, self._endpoints, sleep=self._sleep)
        return self._http

    def _wait(self, api: str, version: str, name: str) -> Generator[Event, None, dict]:
        try:
            result = yield from operations.wait(
                self.http,
                {"name": name},
                api=api,
                version=version,
                sleep=self._sleep,
                interval=self.poll_interval,
                context=error_context(self.config),
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

    def _update(self, **changes: Any) -> None:
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
    def _file_lock(self) -> Iterator[None]:
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
    def _exclusive(self) -> Iterator[None]:
        """Lock and re-read the job, so each create call happens once."""
        with self._file_lock():
            self._catch_up()
            yield


def error_context(cfg: DeployConfig) -> dict:
    """What an error message may name: the project, the region, the GPU."""
    return {"project": cfg.project, "region": cfg.region, "gpu": cfg.gpu_type}
