"""Typed progress events a UI can render; each serialises to a dict with a "type"."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import ClassVar


@dataclass(frozen=True)
class Event:
    type: ClassVar[str] = "event"

    def to_dict(self) -> dict:
        return {"type": self.type, **asdict(self)}


@dataclass(frozen=True)
class StepStarted(Event):
    type: ClassVar[str] = "step_started"
    step: str
    title: str


@dataclass(frozen=True)
class StepFinished(Event):
    type: ClassVar[str] = "step_finished"
    step: str
    title: str
    detail: str = ""


@dataclass(frozen=True)
class BuildStatus(Event):
    """Cloud Build state; steps are (step id, status) pairs."""

    type: ClassVar[str] = "build_status"
    build_id: str
    status: str
    log_url: str = ""
    steps: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True)
class LogLines(Event):
    type: ClassVar[str] = "log_lines"
    lines: tuple[str, ...]


@dataclass(frozen=True)
class OperationProgress(Event):
    type: ClassVar[str] = "operation_progress"
    name: str
    done: bool
    detail: str = ""


@dataclass(frozen=True)
class Notice(Event):
    """Something worth telling the user that does not stop the deploy."""

    type: ClassVar[str] = "notice"
    message: str
    level: str = "info"  # info | warning


@dataclass(frozen=True)
class Done(Event):
    type: ClassVar[str] = "done"
    url: str
    service: str


@dataclass(frozen=True)
class Failed(Event):
    type: ClassVar[str] = "failed"
    step: str
    message: str
    fix: str
    kind: str = "error"
    log_tail: tuple[str, ...] = field(default=())


EVENT_TYPES = {
    cls.type: cls
    for cls in (StepStarted, StepFinished, BuildStatus, LogLines, OperationProgress, Notice, Done, Failed)
}


def from_dict(data: dict) -> Event:
    """Rebuild an event from to_dict() output (e.g. from the job's state file)."""
    cls = EVENT_TYPES[data["type"]]
    kwargs = {k: v for k, v in data.items() if k != "type"}
    for key in ("steps", "lines", "log_tail"):
        if key in kwargs:
            kwargs[key] = tuple(tuple(x) if isinstance(x, list) else x for x in kwargs[key])
    return cls(**kwargs)
