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
import secrets
import time
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path

KEEP_EVENTS = 300
KEEP_LOG_LINES = 60
# What another follower may have learnt meanwhile; a save never forgets these.
STICKY = ("apis_operation", "repo_operation", "repository_created", "build_id",
          "build_operation", "build_region", "log_url", "logs_bucket", "image",
          "service_operation", "service_existed", "service_url")


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
    build_id: str = ""
    build_operation: str = ""
    build_region: str = ""  # where the build runs when not the config's (the fallback)
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
    events: list[dict] = field(default_factory=list)  # each with "seq" once saved
    created_at: float = field(default_factory=time.time)
    updated_at: float = field(default_factory=time.time)

    @classmethod
    def read(cls, path: Path) -> JobState:
        data = json.loads(Path(path).read_text())
        known = {f.name for f in fields(cls)}
        state = cls(**{k: v for k, v in data.items() if k in known})
        for i, event in enumerate(state.events, 1):  # files from before sequence numbers
            event.setdefault("seq", i)
        return state

    def write(self, path: Path) -> None:
        self.updated_at = time.time()
        tmp = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}.tmp")
        tmp.write_text(json.dumps(asdict(self), indent=1))
        os.replace(tmp, path)  # readers never see half a file


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


def latest_path(state_dir: Path) -> tuple[Path, JobState] | None:
    """The newest job by creation time (then id); a late save to an old job does not count."""
    found = []
    for path in Path(state_dir).glob("*.json"):
        try:
            state = JobState.read(path)
        except (OSError, ValueError, TypeError):
            continue  # not a job file (or a foreign one): skip it
        found.append((state.created_at, state.job_id, path, state))
    if not found:
        return None
    _, _, path, state = max(found, key=lambda f: (f[0], f[1]))
    return path, state
