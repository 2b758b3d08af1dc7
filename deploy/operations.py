"""Following long-running operations to the end."""

from __future__ import annotations

from collections.abc import Callable, Generator

from deploy import errors
from deploy.api import ApiRequest
from deploy.events import Event, OperationProgress
from deploy.http import GoogleHttp


def get(api: str, version: str, name: str, context: dict | None = None) -> ApiRequest:
    return ApiRequest(api, version, "GET", f"{version}/{name}",
                      purpose="Poll the long-running operation", when="repeated until done",
                      context=context or {})


def wait(http: GoogleHttp, op: dict, *, api: str, version: str, sleep: Callable[[float], None],
         interval: float, context: dict | None = None) -> Generator[Event, None, dict]:
    """Poll `op` until done; yields progress, returns the operation's response."""
    name = op.get("name", "")
    while not op.get("done"):
        sleep(interval)
        op = http.send(get(api, version, name, context))
        yield OperationProgress(name=name, done=bool(op.get("done")), detail=_detail(op))
    if op.get("error"):
        raise errors.from_status(op["error"], context)
    return op.get("response") or {}


def _detail(op: dict) -> str:
    """Cloud Run puts the service, with its conditions, in the operation metadata."""
    meta = op.get("metadata") or {}
    conditions = meta.get("conditions") or []
    parts = [f"{c.get('type')}: {c.get('state', '').removeprefix('CONDITION_').lower()}"
             for c in conditions if c.get("type")]
    return "; ".join(parts)
