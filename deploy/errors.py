"""User-facing failures: every error has a sentence (.message) and a fix (.fix).

Google's errors are translated once, here, from the JSON shape
{"error": {"code", "message", "status", "details": [...]}} (or an operation's
google.rpc.Status), so callers only ever see DeployError subclasses.
"""

from __future__ import annotations

import re
from typing import Any

RPC_CODES = {
    1: "CANCELLED",
    2: "UNKNOWN",
    3: "INVALID_ARGUMENT",
    4: "DEADLINE_EXCEEDED",
    5: "NOT_FOUND",
    6: "ALREADY_EXISTS",
    7: "PERMISSION_DENIED",
    8: "RESOURCE_EXHAUSTED",
    9: "FAILED_PRECONDITION",
    10: "ABORTED",
    11: "OUT_OF_RANGE",
    12: "UNIMPLEMENTED",
    13: "INTERNAL",
    14: "UNAVAILABLE",
    15: "DATA_LOSS",
    16: "UNAUTHENTICATED",
}
ADC_FIX = (
    "Run `gcloud auth application-default login` on this machine (on Cloud Run, attach "
    "a service account to the service), then reload."
)


class DeployError(Exception):
    """Base class: a sentence for the user and what to do about it."""

    kind = "error"
    operation = ""  # set when a long-running operation itself finished with this error

    def __init__(
        self,
        message: str,
        fix: str = "",
        *,
        status: str = "",
        http_status: int = 0,
        link: str = "",
        details: tuple[Any, ...] = (),
    ) -> None:
        super().__init__(message)
        self.message = message
        self.fix = fix
        self.status = status
        self.http_status = http_status
        self.link = link
        self.details = details

    def __str__(self) -> str:
        return f"{self.message} Fix: {self.fix}" if self.fix else self.message

    def to_dict(self) -> dict[str, str]:
        return {
            "kind": self.kind,
            "message": self.message,
            "fix": self.fix,
            "status": self.status,
            "link": self.link,
        }


class ConfigError(DeployError):
    kind = "config"


class CredentialsError(DeployError):
    kind = "credentials"


class NetworkError(DeployError):
    kind = "network"


class ApiDisabledError(DeployError):
    kind = "api_disabled"

    def __init__(self, message: str, fix: str, *, service: str, activation_url: str = "", **kw: Any) -> None:
        super().__init__(message, fix, link=activation_url, **kw)
        self.service = service
        self.activation_url = activation_url


class PermissionDeniedError(DeployError):
    kind = "permission"

    def __init__(self, message: str, fix: str, *, permission: str = "", role: str = "", **kw: Any) -> None:
        super().__init__(message, fix, **kw)
        self.permission = permission
        self.role = role


class QuotaError(DeployError):
    kind = "quota"


class RateLimitError(DeployError):
    """Too many API calls per minute: it clears by itself, unlike a missing GPU quota."""

    kind = "rate_limit"
    retry_after = 0.0  # seconds, from the Retry-After header (set by deploy/http.py)


class StateFileError(DeployError):
    kind = "state_file"


class InvalidArgumentError(DeployError):
    kind = "invalid_argument"


class NotFoundError(DeployError):
    kind = "not_found"


class AlreadyExistsError(DeployError):
    kind = "already_exists"


class ConflictError(DeployError):
    kind = "conflict"


class BillingError(DeployError):
    kind = "billing"


class BuildFailedError(DeployError):
    kind = "build_failed"

    def __init__(
        self, message: str, fix: str, *, log_tail: tuple[str, ...] = (), log_url: str = "", **kw: Any
    ) -> None:
        super().__init__(message, fix, link=log_url, **kw)
        self.log_tail = log_tail
        self.log_url = log_url


# Translation ---------------------------------------------------------------


def from_http(http_status: int, payload: object, context: dict[str, Any] | None = None) -> DeployError:
    """An HTTP error response (already JSON-decoded, or text) -> DeployError."""
    err = payload.get("error") if isinstance(payload, dict) else None
    if not isinstance(err, dict):
        text = str(payload)[:300] if payload else f"HTTP {http_status}"
        err = {"code": http_status, "message": text, "status": _status_for_http(http_status)}
    return from_status(err, context, http_status=http_status)


def from_status(
    err: dict[str, Any], context: dict[str, Any] | None = None, *, http_status: int = 0
) -> DeployError:
    """A google.rpc.Status (operation error or error body) -> DeployError."""
    ctx = context or {}
    code = err.get("code", 0)
    status = err.get("status") or RPC_CODES.get(code, "") or _status_for_http(http_status)
    message = err.get("message", "") or status
    details = tuple(err.get("details") or ())
    info = _error_info(details)
    common = {"status": status, "http_status": http_status, "details": details}
    reason = info.get("reason", "")
    if reason == "SERVICE_DISABLED":
        return _api_disabled(info, message, ctx, common)
    if reason == "BILLING_DISABLED" or (
        "billing" in message.lower() and status in ("FAILED_PRECONDITION", "PERMISSION_DENIED")
    ):
        return _billing(message, ctx, common)
    if status == "UNAUTHENTICATED" or http_status == 401:
        return CredentialsError(f"Google rejected the credentials: {message}", ADC_FIX, **common)
    if status == "RESOURCE_EXHAUSTED" or (
        "quota" in message.lower() and status in ("FAILED_PRECONDITION", "INVALID_ARGUMENT")
    ):
        if is_rate_limit(info, message):
            return _rate_limit(info, message, common)
        return _quota(message, ctx, common)
    if status == "PERMISSION_DENIED":
        return _permission(info, message, ctx, common)
    if status == "ABORTED":
        return ConflictError(
            f"Someone changed it at the same time: {message}",
            "Retry; the change is re-read and applied again.",
            **common,
        )
    if status == "ALREADY_EXISTS":
        return AlreadyExistsError(message, "It already exists; it will be reused.", **common)
    if status == "NOT_FOUND":
        return NotFoundError(message, "Check the project and region.", **common)
    if status in ("INVALID_ARGUMENT", "FAILED_PRECONDITION", "OUT_OF_RANGE"):
        return _invalid(message, ctx, common)
    return DeployError(
        f"Google Cloud returned {status or http_status}: {message}",
        "Retry in a minute; if it keeps failing, check status.cloud.google.com.",
        **common,
    )


def _status_for_http(http_status: int) -> str:
    return {
        400: "INVALID_ARGUMENT",
        401: "UNAUTHENTICATED",
        403: "PERMISSION_DENIED",
        404: "NOT_FOUND",
        409: "ALREADY_EXISTS",
        429: "RESOURCE_EXHAUSTED",
        500: "INTERNAL",
        503: "UNAVAILABLE",
    }.get(http_status, "UNKNOWN")


def _error_info(details: tuple[Any, ...]) -> dict[str, Any]:
    for d in details:
        if isinstance(d, dict) and str(d.get("@type", "")).endswith("google.rpc.ErrorInfo"):
            return d
    return {}


def _api_disabled(
    info: dict[str, Any], message: str, ctx: dict[str, Any], common: dict[str, Any]
) -> ApiDisabledError:
    meta = info.get("metadata") or {}
    service = meta.get("service", "the API")
    title = meta.get("serviceTitle") or service
    project = ctx.get("project", "")
    url = meta.get("activationUrl", "")
    fix = (
        f"Enable it (the Deploy button does this for you): `gcloud services enable "
        f"{service} --project {project}`"
        + (f", or open {url}" if url else "")
        + ". New APIs take a minute to be usable."
    )
    return ApiDisabledError(
        f"The {title} ({service}) is not enabled in project {project}.",
        fix,
        service=service,
        activation_url=url,
        **common,
    )


_PERM_RE = re.compile(r"[Pp]ermission[s]? ['\"`]?([a-z]+\.[A-Za-z]+\.[A-Za-z]+)")
_PERM_RE2 = re.compile(r"\b([a-z]+\.[a-zA-Z]+\.[a-zA-Z]+)\b")


def _permission(
    info: dict[str, Any], message: str, ctx: dict[str, Any], common: dict[str, Any]
) -> PermissionDeniedError:
    from .roles import role_for

    meta = info.get("metadata") or {}
    perm = meta.get("permission", "")
    if not perm:
        match = _PERM_RE.search(message) or _PERM_RE2.search(message)
        perm = match.group(1) if match else ""
    role = role_for(perm) if perm else None
    project = ctx.get("project", "PROJECT")
    who = ctx.get("member", "user:YOUR_EMAIL")
    lacking = f"the permission {perm}" if perm else "a permission"
    text = f"You lack {lacking}" + (f" (role {role})" if role else "") + f": {message}"
    fix = (
        f"Ask a project owner to run `gcloud projects add-iam-policy-binding {project} "
        f"--member={who} --role={role}`, then retry."
        if role
        else "Ask a project owner for the roles listed in the preflight, then retry."
    )
    return PermissionDeniedError(text, fix, permission=perm, role=role or "", **common)


# Google's rate limits are per-minute "requests" quotas (ErrorInfo RATE_LIMIT_EXCEEDED,
# metric e.g. run.googleapis.com/read_requests); GPU quota metrics name the GPU
# (run.googleapis.com/nvidia_l4_gpu_allocation[_no_zonal_redundancy]).
_GPU_WORDS = re.compile(r"gpu|nvidia|accelerator", re.IGNORECASE)
_RATE_WORDS = re.compile(r"requests|per minute|per second|rate limit|too many", re.IGNORECASE)


def is_rate_limit(info: dict[str, Any], message: str) -> bool:
    """A RESOURCE_EXHAUSTED that is an API rate limit (retry later), not a GPU quota."""
    if info.get("reason") == "RATE_LIMIT_EXCEEDED":
        return True
    meta = info.get("metadata") or {}
    text = f"{meta.get('quota_metric', '')} {meta.get('quota_limit', '')} {message}"
    return not _GPU_WORDS.search(text) and bool(_RATE_WORDS.search(text))


def _rate_limit(info: dict[str, Any], message: str, common: dict[str, Any]) -> RateLimitError:
    service = (info.get("metadata") or {}).get("service", "")
    api = f"the {service} API" if service else "a Google Cloud API"
    return RateLimitError(
        f"Google Cloud limited how often this project may call {api}: {message}",
        "This is a per-minute rate limit, not missing quota: wait a minute, then resume the "
        "deploy (`python -m deploy resume`, or Resume on the Deploy page). Other tools calling "
        "the same API in this project share the limit.",
        **common,
    )


def _quota(message: str, ctx: dict[str, Any], common: dict[str, Any]) -> QuotaError:
    gpu, region = ctx.get("gpu"), ctx.get("region", "")
    if gpu:
        text = (
            f"No {gpu} GPU quota left for Cloud Run in {region}: {message} New projects "
            "often start with zero GPU quota, and it is per region."
        )
        metric = f"run.googleapis.com/{gpu.replace('-', '_')}_gpu_allocation"
        fix = (
            f"Request Cloud Run GPU quota ({metric}, or its _no_zonal_redundancy variant) "
            "in this region (https://cloud.google.com/run/quotas#gpu ; approval can take a "
            "day), lower max instances, or pick another region with quota."
        )
        return QuotaError(text, fix, link="https://cloud.google.com/run/quotas#gpu", **common)
    return QuotaError(
        f"A Google Cloud quota was exhausted: {message}",
        "Wait a minute and retry, or request more quota in the console.",
        **common,
    )


def _billing(message: str, ctx: dict[str, Any], common: dict[str, Any]) -> BillingError:
    project = ctx.get("project", "")
    return BillingError(
        f"Billing is not enabled on project {project}: {message}",
        "Link a billing account to the project "
        "(https://console.cloud.google.com/billing/linkedaccount), then retry.",
        **common,
    )


def _invalid(message: str, ctx: dict[str, Any], common: dict[str, Any]) -> InvalidArgumentError:
    gpu, region = ctx.get("gpu"), ctx.get("region")
    lowered = message.lower()
    if gpu and any(w in lowered for w in ("region", "location", "gpu", "accelerator", "zone")):
        from .catalog import GPU_TYPES

        offered = ", ".join(GPU_TYPES[gpu].regions) if gpu in GPU_TYPES else "see the docs"
        fix = f"Choose a region offering {gpu} ({offered}) and the GPU minimums, then retry."
        return InvalidArgumentError(f"Cloud Run refused {gpu} in {region}: {message}", fix, **common)
    return InvalidArgumentError(
        f"Google Cloud rejected the request: {message}", "Check the settings in the form and retry.", **common
    )
