"""Checks before pressing Deploy: each a status, a sentence and a fix."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass

from google.auth.credentials import Credentials

from . import catalog, cloudrun, fit, iam, operations, roles, serviceusage
from .config import DeployConfig, Endpoints
from .errors import ApiDisabledError, DeployError
from .events import Event, StepFinished
from .http import GoogleHttp


@dataclass(frozen=True)
class CheckResult:
    name: str
    status: str  # ok | warn | fail | skip
    message: str
    fix: str = ""
    action: str = ""  # what the page can do about it: "enable_apis" shows the Enable button

    @property
    def ok(self) -> bool:
        return self.status != "fail"

    def to_dict(self) -> dict:
        return asdict(self)


def preflight(
    cfg: DeployConfig,
    *,
    http: GoogleHttp | None = None,
    credentials: Credentials | None = None,
    endpoints: Endpoints | None = None,
) -> list[CheckResult]:
    """Settings, credentials, APIs, the caller's permissions and GPU quota."""
    results = settings_checks(cfg)
    try:
        http = http or GoogleHttp(credentials, endpoints)
    except DeployError as err:
        results.append(CheckResult("credentials", "fail", err.message, err.fix))
        return results + [
            CheckResult(n, "skip", "Needs credentials first.") for n in ("apis", "permissions", "quota")
        ]
    member = iam.caller_member(http) or "user:YOUR_EMAIL"
    results.append(CheckResult("credentials", "ok", f"Signed in as {member.split(':', 1)[1]}."))
    apis = _remote(_apis_check, http, cfg)
    results.append(apis)
    results += _permission_checks(http, cfg, member, apis_off=apis.status != "ok")
    results.append(_remote(_quota_check, http, cfg))
    return results


def enable_apis(
    cfg: DeployConfig,
    *,
    http: GoogleHttp | None = None,
    credentials: Credentials | None = None,
    endpoints: Endpoints | None = None,
    sleep: Callable[[float], None] = time.sleep,
    poll_interval: float = 5.0,
) -> Iterator[Event]:
    """The preflight's "Enable" button: turn on the APIs the deploy and the preflight need."""
    http = http or GoogleHttp(credentials, endpoints)
    wanted = _wanted_apis(cfg)
    off = serviceusage.disabled(http.send(serviceusage.batch_get(cfg.project, wanted)), wanted)
    if off:
        op = http.send(serviceusage.batch_enable(cfg.project, off))
        yield from operations.wait(
            http,
            op,
            api="serviceusage",
            version="v1",
            sleep=sleep,
            interval=poll_interval,
            context={"project": cfg.project},
        )
    yield StepFinished("apis", "Enable the APIs", "enabled " + ", ".join(off) if off else "already enabled")


def _wanted_apis(cfg: DeployConfig) -> tuple[str, ...]:
    """The deploy's APIs (the engine's) plus Resource Manager, which answers the role check."""
    if cfg.engine != "vllm":
        return catalog.preflight_apis(cfg.use_prebuilt)
    from . import vllm

    return (*vllm.required_apis(cfg.vllm_options()), catalog.RESOURCE_MANAGER_API)


def settings_checks(cfg: DeployConfig) -> list[CheckResult]:
    """What can be checked without Google: region/GPU, minimums, concurrency."""
    if cfg.gpu_type not in catalog.GPU_TYPES:
        return [
            CheckResult(
                "gpu", "fail", f"Unknown GPU type {cfg.gpu_type}.", f"Choose {catalog.gpu_choices()}."
            )
        ]
    out = []
    for name, problems, good in (
        ("region", catalog.region_problems(cfg.gpu_type, cfg.region), f"{cfg.region} offers {cfg.gpu_type}."),
        (
            "resources",
            catalog.resource_problems(cfg.gpu_type, cfg.cpu_limit, cfg.memory_limit),
            f"{cfg.cpu_limit} CPU / {cfg.memory_limit} meets the {cfg.gpu_type} minimums.",
        ),
        (
            "concurrency",
            catalog.concurrency_problems(cfg.concurrency, cfg.ollama_num_parallel),
            catalog.concurrency_advice(cfg.concurrency, cfg.ollama_num_parallel),
        ),
    ):
        fix = "Change it in the form." if problems else ""
        out.append(CheckResult(name, "fail" if problems else "ok", " ".join(problems) or good, fix))
    return [*out, model_check(cfg)]


def model_check(cfg: DeployConfig) -> CheckResult:
    """The fit check and the server version: a failure names the nearest fixes."""
    problems = cfg.model_problems()
    est = cfg.fit_estimate()
    if problems:
        found = fit.fixes(est) if not est.fits else []
        fix = ("Nearest fixes: " + "; ".join(found) + ".") if found else "Change it in the form."
        return CheckResult("model", "fail", " ".join(problems), fix)
    if warnings := cfg.warnings():
        return CheckResult(
            "model",
            "warn",
            " ".join(warnings),
            "Pick a catalog model, or check its size and Ollama version yourself.",
        )
    return CheckResult("model", "ok", f"Fits: {est.summary()}.")


def _remote(
    check: Callable[[GoogleHttp, DeployConfig], CheckResult], http: GoogleHttp, cfg: DeployConfig
) -> CheckResult:
    try:
        return check(http, cfg)
    except DeployError as err:
        return CheckResult(
            check.__name__.strip("_").removesuffix("_check"),
            "warn",
            f"Could not check: {err.message}",
            err.fix,
        )


def _apis_check(http: GoogleHttp, cfg: DeployConfig) -> CheckResult:
    wanted = _wanted_apis(cfg)
    off = serviceusage.disabled(http.send(serviceusage.batch_get(cfg.project, wanted)), wanted)
    if not off:
        return CheckResult("apis", "ok", "Required APIs are enabled: " + ", ".join(wanted))
    why = (
        f" ({catalog.RESOURCE_MANAGER_API} lets this preflight check your roles.)"
        if catalog.RESOURCE_MANAGER_API in off
        else ""
    )
    return CheckResult(
        "apis",
        "warn",
        "Not enabled yet: "
        + ", ".join(off)
        + ". Deploy enables the ones it uses (needs serviceusage.services.enable)."
        + why,
        f"Press Enable the APIs, or run `gcloud services enable {' '.join(off)} --project={cfg.project}`.",
        action="enable_apis",
    )


def _permission_checks(http: GoogleHttp, cfg: DeployConfig, member: str, apis_off: bool) -> list[CheckResult]:
    try:
        resp = http.send(iam.test_project_permissions(cfg.project, [*roles.all_permissions(), roles.INVOKE]))
    except DeployError as err:
        return [_permissions_unchecked(err, cfg)]
    granted = set(resp.get("permissions", []))
    gaps = roles.missing_roles(granted)
    if not cfg.builds_image:  # prebuilt or vLLM: no repository, build or build log
        for role in ("roles/artifactregistry.admin", "roles/cloudbuild.builds.editor", "roles/storage.admin"):
            gaps.pop(role, None)
    out = [
        CheckResult(
            f"role:{role}",
            "fail",
            f"Missing {role} (lacks {', '.join(perms)}).",
            f"`gcloud projects add-iam-policy-binding {cfg.project} --member={member} --role={role}`",
        )
        for role, perms in gaps.items()
    ]
    if not gaps:
        out.append(
            CheckResult(
                "permissions", "ok", "You hold the notebook's roles: " + ", ".join(roles.REQUIRED_ROLES)
            )
        )
    for perm, (role, why) in roles.OPTIONAL_PERMISSIONS.items():
        needed = perm != "serviceusage.services.enable" or apis_off
        if perm not in granted and needed:
            out.append(_optional_gap(cfg, perm, role, why, granted))
    return out


def _optional_gap(cfg: DeployConfig, perm: str, role: str, why: str, granted: set[str]) -> CheckResult:
    """A missing optional permission: a warning, or a failure when this deploy will need it.

    Granting roles/run.invoker (setIamPolicy) is skipped when the caller can already
    invoke the service and nobody else is to be granted; otherwise the deploy would
    build for ten minutes and then fail at the grant.
    """
    if perm == "run.services.setIamPolicy" and (cfg.invoker_members or roles.INVOKE not in granted):
        who = ", ".join(cfg.invoker_members) or "you (you cannot invoke Cloud Run services yet)"
        return CheckResult(
            f"optional:{perm}",
            "fail",
            f"Missing {perm}: the deploy must grant {cloudrun.INVOKER} to {who}.",
            f"Grant {role} (or have an owner grant roles/run.invoker after the deploy).",
        )
    return CheckResult(
        f"optional:{perm}",
        "warn",
        f"Missing {perm}, needed {why}.",
        f"Grant {role}, or have an owner do that step.",
    )


def _permissions_unchecked(err: DeployError, cfg: DeployConfig) -> CheckResult:
    crm = catalog.RESOURCE_MANAGER_API
    if isinstance(err, ApiDisabledError) and err.service == crm:
        return CheckResult(
            "permissions",
            "warn",
            "Cannot check your roles: the preflight asks the Cloud Resource "
            f"Manager API ({crm}), which is off in {cfg.project}. The deploy itself does not need it.",
            f"Press Enable the APIs (or `gcloud services enable {crm} --project={cfg.project}`), "
            "wait a minute, then run the checks again.",
            action="enable_apis",
        )
    return CheckResult("permissions", "warn", f"Could not check: {err.message}", err.fix)


def _quota_check(http: GoogleHttp, cfg: DeployConfig) -> CheckResult:
    resp = serviceusage.all_quota_metrics(http.send, cfg.project)
    limit = serviceusage.gpu_quota(resp, cfg.gpu.quota_words, cfg.region, cfg.gpu_zonal_redundancy)
    where = f"{cfg.gpu_type} in {cfg.region}"
    request = (
        f"Request Cloud Run GPU quota for {cfg.region} ({catalog.QUOTA_DOCS}); "
        "choose 'without zonal redundancy' to match this deploy"
        if not cfg.gpu_zonal_redundancy
        else f"Request Cloud Run GPU quota for {cfg.region} ({catalog.QUOTA_DOCS})"
    )
    if limit is None:
        return CheckResult(
            "quota",
            "warn",
            f"The API does not expose GPU quota for {where}; the deploy will report it if there is none.",
            request,
        )
    if limit == 0:
        return CheckResult("quota", "fail", f"No GPU quota for {where}.", request)
    if 0 < limit < cfg.max_instances:
        return CheckResult(
            "quota",
            "fail",
            f"GPU quota for {where} is {limit}, below max instances {cfg.max_instances}.",
            f"Lower max instances, or {request}",
        )
    shown = "unlimited" if limit < 0 else str(limit)
    return CheckResult("quota", "ok", f"GPU quota for {where}: {shown}.")
