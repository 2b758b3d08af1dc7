"""A deploy job's persisted state, and how two followers' saves are merged.

Several followers may save the same job: the page's old run still polling, a
reloaded page, the CLI. Each save happens under a file lock after reading the
file, and merges what is there instead of overwriting it:
- ids another follower recorded (build, operations, URL) are kept;
- finished steps are the union;
- the build log position is the furthest one, with the tail read up to it;
- events carry a sequence number, assigned under the lock just before the
  write, so the merged history has each event once, in the order it was saved.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import time
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path

from .errors import StateFileError

KEEP_EVENTS = 300
KEEP_LOG_LINES = 60
JOB_ID = re.compile(r"\d{8}-\d{6}-[0-9a-f]{6}")  # DeployJob.create's ids (and file names)
# What another follower may have learnt meanwhile; a save never forgets these.
STICKY = (
    "apis_operation",
    "repo_operation",
    "repository_created",
    "build_sent",
    "build_id",
    "build_operation",
    "build_region",
    "log_url",
    "logs_bucket",
    "image",
    "service_sent",
    "service_operation",
    "service_existed",
    "service_url",
)


@dataclass
class JobState:
    job_id: str
    config: dict
    status: str = "pending"  # pending | running | succeeded | failed | cleaned
    step: str = ""
    completed: list[str] = field(default_factory=list)
    apis_operation: str = ""
    repo_operation: str = ""
    repository_created: bool = False  # by this app (this job, or an earlier one: its label)
    build_sent: bool = False  # a builds.create went out: on resume, look for it before another
    build_id: str = ""
    build_operation: str = ""
    build_region: str = ""  # where the build runs when not the config's (the fallback)
    build_status: str = ""
    log_url: str = ""
    logs_bucket: str = ""
    log_offset: int = 0
    log_unreadable: bool = False
    image: str = ""
    service_sent: str = ""  # "create" or "patch <generation before>", sent before its reply came
    service_operation: str = ""
    service_existed: bool = False
    service_url: str = ""
    failed_operations: list[str] = field(default_factory=list)
    error: dict | None = None
    log_tail: list[str] = field(default_factory=list)
    events: list[dict] = field(default_factory=list)  # each with "seq" once saved
    created_at: float = field(default_factory=time.time)
    updated_at: float = field(default_factory=time.time)

    @classmethod
    def read(cls, path: Path) -> JobState:
        """The state in `path`; StateFileError (naming the file) if it is missing or damaged."""
        path = Path(path)
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise StateFileError(
                f"There is no deploy state file {path}.",
                "Check the path, or leave out --state to follow the latest deploy.",
            ) from None
        except OSError as err:
            raise StateFileError(
                f"Cannot read the deploy state file {path}: {err.strerror}.",
                "Check the file's permissions, then retry.",
            ) from err
        except ValueError as err:  # cut short, or not JSON / not UTF-8 at all
            raise damaged(path, f"it is not complete JSON: {err}") from err
        if (
            not isinstance(data, dict)
            or not isinstance(data.get("job_id"), str)
            or not isinstance(data.get("config"), dict)
        ):
            raise damaged(path, "it does not hold a deploy job")
        known = {f.name for f in fields(cls)}
        state = cls(**{k: v for k, v in data.items() if k in known})
        if not isinstance(state.events, list) or not all(isinstance(e, dict) for e in state.events):
            raise damaged(path, "its event list is not a list of events")
        for i, event in enumerate(state.events, 1):  # files from before sequence numbers
            event.setdefault("seq", i)
        return state

    def write(self, path: Path) -> None:
        """Write to a temporary file, flush it to disk, then rename it over `path`:
        readers (and a crash) see the old state or the new one, never half a file."""
        self.updated_at = time.time()
        tmp = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}.tmp")
        try:
            with open(tmp, "w", encoding="utf-8") as out:
                out.write(json.dumps(asdict(self), indent=1))
                out.flush()
                os.fsync(out.fileno())
            os.replace(tmp, path)
        finally:
            tmp.unlink(missing_ok=True)


def damaged(path: Path, why: str) -> StateFileError:
    """The sentence for a state file that cannot be followed, and what to do instead."""
    tag = f"deploy-{path.stem}" if JOB_ID.fullmatch(path.stem) else ""
    find = f" (`gcloud builds list --region=REGION --filter='tags=\"{tag}\"'` finds its build)" if tag else ""
    return StateFileError(
        f"The deploy state file {path} is damaged ({why}), so this deploy cannot be resumed from it.",
        f"Its build and service may still be running in Google Cloud{find}: check Cloud Build "
        f"and Cloud Run in the console. Then move the file aside (`mv {path} {path}.damaged`) "
        "and deploy again: the repository is reused and the service updated.",
    )


def merge(mine: JobState, disk: JobState, cleared: set[str], step_order: list[str]) -> None:
    """Fold what another follower saved (`disk`) into `mine`, which is saved next."""
    for name in STICKY:
        if not getattr(mine, name) and getattr(disk, name) and name not in cleared:
            setattr(mine, name, getattr(disk, name))
    done = set(mine.completed) | set(disk.completed)
    mine.completed = [step for step in step_order if step in done]
    if disk.build_id == mine.build_id and disk.log_offset > mine.log_offset:
        mine.log_offset, mine.log_tail = disk.log_offset, list(disk.log_tail)
    mine.events = merge_events(mine.events, disk.events)


def merge_events(mine: list[dict], disk: list[dict]) -> list[dict]:
    """Saved events: the union by sequence number; unsaved ones (no "seq") stay last."""
    by_seq = {e["seq"]: e for e in disk}
    for event in mine:
        if "seq" in event:
            by_seq.setdefault(event["seq"], event)
    saved = [by_seq[s] for s in sorted(by_seq)]
    return saved + [e for e in mine if "seq" not in e]


def number_events(events: list[dict]) -> list[dict]:
    """Number unsaved events after the last saved one; call under the file lock, then write."""
    top = max((e["seq"] for e in events if "seq" in e), default=0)
    for event in events:
        if "seq" not in event:
            top += 1
            event["seq"] = top
    return events[-KEEP_EVENTS:]


def latest_path(state_dir: Path, *, strict: bool = False) -> tuple[Path, JobState] | None:
    """The newest job by creation time (then id); a late save to an old job does not count.

    Files that are not job files are skipped. A damaged job file (named like a job) is
    skipped too, unless `strict` and it is newer than every readable job: then the
    StateFileError naming it is raised, since "the latest deploy" would be the wrong one.
    """
    found, broken = [], []
    for path in Path(state_dir).glob("*.json"):
        try:
            state = JobState.read(path)
        except (StateFileError, TypeError) as err:
            if isinstance(err, StateFileError) and JOB_ID.fullmatch(path.stem):
                broken.append((path.stem, err))
            continue
        found.append((state.created_at, state.job_id, path, state))
    newest = max(found, key=lambda f: (f[0], f[1])) if found else None
    if strict and broken:
        job_id, err = max(broken, key=lambda b: b[0])
        if newest is None or job_id > newest[1]:  # ids start with the creation time
            raise err
    return (newest[2], newest[3]) if newest else None
