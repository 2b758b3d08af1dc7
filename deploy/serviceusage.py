"""Service Usage: which APIs are on, turning them on, and GPU quota."""

from __future__ import annotations

from collections.abc import Callable

from .api import ApiRequest

RUN_SERVICE = "run.googleapis.com"
MAX_QUOTA_PAGES = 20  # Cloud Run has a few dozen metrics; this only guards against a loop


def batch_get(project: str, services: tuple[str, ...]) -> ApiRequest:
    names = tuple(("names", f"projects/{project}/services/{s}") for s in services)
    return ApiRequest(
        "serviceusage",
        "v1",
        "GET",
        f"v1/projects/{project}/services:batchGet",
        params=names,
        purpose="Check which required APIs are enabled",
        context={"project": project},
    )


def batch_enable(project: str, services: list[str]) -> ApiRequest:
    return ApiRequest(
        "serviceusage",
        "v1",
        "POST",
        f"v1/projects/{project}/services:batchEnable",
        body={"serviceIds": list(services)},
        purpose="Enable the APIs that are off",
        when="if any API is disabled",
        context={"project": project},
    )


def disabled(batch_get_response: dict, wanted: tuple[str, ...]) -> list[str]:
    enabled = {
        s.get("name", "").rsplit("/", 1)[-1]
        for s in batch_get_response.get("services", [])
        if s.get("state") == "ENABLED"
    }
    return [s for s in wanted if s not in enabled]


def quota_metrics(project: str, page_token: str = "") -> ApiRequest:
    """Cloud Run's consumer quotas, per region (v1beta1 is where they are exposed)."""
    params = (("view", "FULL"),) + ((("pageToken", page_token),) if page_token else ())
    return ApiRequest(
        "serviceusage",
        "v1beta1",
        "GET",
        f"v1beta1/projects/{project}/services/{RUN_SERVICE}/consumerQuotaMetrics",
        params=params,
        purpose="Read Cloud Run GPU quota",
        when="again with pageToken while nextPageToken is set" if page_token else "",
        context={"project": project},
    )


def all_quota_metrics(
    send: Callable[[ApiRequest], dict], project: str, max_pages: int = MAX_QUOTA_PAGES
) -> dict:
    """Every page of quota_metrics as one {"metrics": [...]} (the GPU metric may be on any)."""
    metrics, token = [], ""
    for _ in range(max_pages):
        page = send(quota_metrics(project, token))
        metrics += page.get("metrics", [])
        token = page.get("nextPageToken", "")
        if not token:
            break
    return {"metrics": metrics}


def gpu_quota(
    response: dict, quota_words: tuple[str, ...], region: str, zonal_redundancy: bool
) -> int | None:
    """Effective GPU limit in `region`, or None when no matching metric is exposed.

    Quota metrics are matched by words (e.g. "l4"), preferring the variant for
    the chosen zonal redundancy ("no zonal redundancy" has its own quota).
    """
    candidates = []
    for metric in response.get("metrics", []):
        text = f"{metric.get('metric', '')} {metric.get('displayName', '')}".lower()
        if "gpu" not in text or not all(w in text for w in quota_words):
            continue
        no_zr = "no_zonal" in text or "without zonal" in text or "no zonal" in text
        candidates.append((no_zr == (not zonal_redundancy), metric))
    for _, metric in sorted(candidates, key=lambda c: not c[0]):
        limit = _region_limit(metric, region)
        if limit is not None:
            return limit
    return None


def _region_limit(metric: dict, region: str) -> int | None:
    default = None
    for limit in metric.get("consumerQuotaLimits", []):
        for bucket in limit.get("quotaBuckets", []):
            dims = bucket.get("dimensions") or {}
            value = bucket.get("effectiveLimit")
            if value is None:
                continue
            if dims.get("region") == region:
                return int(value)
            if not dims:
                default = int(value)
    return default
