"""Following long-running operations to the end."""

from __future__ import annotations

import time
from collections.abc import Callable, Generator

from . import errors
from .api import ApiRequest
from .events import Event, OperationProgress
from .http import GoogleHttp

WAIT_LIMIT_S = 3600.0  # a deploy's operations take minutes; past this, stop following


def still_running(name: str) -> errors.DeployError:
    """Stopped following, not failed: the operation stays saved and a resume polls it again."""
    return errors.DeployError(
        f"Google has not finished {name} after {WAIT_LIMIT_S / 60:.0f} minutes.",
        "It may still finish: resume the deploy later (`python -m deploy resume`, or Resume on "
        "the Deploy page) to follow it again.",
    )


def get(api: str, version: str, name: str, context: dict | None = None) -> ApiRequest:
    return ApiRequest(
        api,
        version,
        "GET",
        f"{version}/{name}",
        purpose="Poll the long-running operation",
        when="repeated until done",
        context=context or {},
    )


def wait(
    http: GoogleHttp,
    op: dict,
    *,
    api: str,
    version: str,
    sleep: Callable[[float], None],
    interval: float,
    context: dict | None = None,
) -> Generator[Event, None, dict]:
    """Poll `op` until done; yields progress, returns the operation's response."""
    name = op.get("name", "")
    deadline = time.monotonic() + WAIT_LIMIT_S
    while not op.get("done"):
        if time.monotonic() > deadline:
            raise still_running(name)
        sleep(interval)
        op = http.send(get(api, version, name, context))
        yield OperationProgress(name=name, done=bool(op.get("done")), detail=_detail(op))
    if op.get("error"):
        err = errors.from_status(op["error"], context)
        err.operation = name  # it ended with this error; a failed poll sets nothing
        raise err
    return op.get("response") or {}


def _detail(op: dict) -> str:
    """Cloud Run puts the service, with its conditions, in the operation metadata."""
    meta = op.get("metadata") or {}
    conditions = meta.get("conditions") or []
    parts = [
        f"{c.get('type')}: {c.get('state', '').removeprefix('CONDITION_').lower()}"
        for c in conditions
        if c.get("type")
    ]
    return "; ".join(parts)
