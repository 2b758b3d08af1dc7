"""The dry run: the ordered requests a deploy sends, and the equivalent gcloud commands.

Requests that depend on Google's answers (operation names, the build id, the
log bucket) carry placeholders in capitals; `when` says when each is sent.
"""

from __future__ import annotations

import json
import shlex

from . import artifactregistry, catalog, cloudbuild, cloudrun, operations, roles, serviceusage
from .api import ApiRequest
from .config import DeployConfig, Endpoints, labels_flag, model_slug

PLACEHOLDER_MEMBER = "user:YOU@example.com"


def plan_requests(cfg: DeployConfig, member: str = PLACEHOLDER_MEMBER) -> list[ApiRequest]:
    """Every request of a first deploy, in order (conditional ones marked)."""
    cfg.validate()
    wanted = catalog.required_apis(cfg.use_prebuilt)
    reqs = [
        serviceusage.batch_get(cfg.project, wanted),
        serviceusage.batch_enable(cfg.project, list(wanted)),
        operations.get("serviceusage", "v1", "operations/OPERATION_ID"),
    ]
    if not cfg.use_prebuilt:
        parent = f"projects/{cfg.project}/locations/{cfg.region}"
        reqs += [
            artifactregistry.get_repository(cfg),
            artifactregistry.create_repository(cfg),
            operations.get("artifactregistry", "v1", f"{parent}/operations/OPERATION_ID"),
            cloudbuild.create_build(cfg),
            cloudbuild.get_build(cfg, "BUILD_ID"),
            cloudbuild.read_log("PROJECT_NUMBER.cloudbuild-logs.googleusercontent.com", "BUILD_ID"),
        ]
    parent = f"projects/{cfg.project}/locations/{cfg.region}"
    policy, _ = cloudrun.with_invoker({"etag": "BwYAAAAAAAA="}, [member])
    reqs += [
        cloudrun.get_service(cfg),
        cloudrun.create_service(cfg, cfg.image),
        cloudrun.update_service(cfg, cfg.image),
        operations.get("run", "v2", f"{parent}/operations/OPERATION_ID"),
        cloudrun.test_permissions(cfg, [roles.INVOKE]),
        cloudrun.get_iam_policy(cfg),
        cloudrun.set_iam_policy(cfg, policy),
    ]
    return reqs


def warm_up_call(cfg: DeployConfig) -> dict:
    """The job's last step: not a Google API call, but a call to the new service itself."""
    return {
        "method": "POST",
        "url": "SERVICE_URL/api/generate",
        "body": {"model": cfg.model},
        "auth": "a Google ID token whose audience is SERVICE_URL",
        "purpose": "Load the model before traffic (Ollama loads it without generating)",
        "when": "after the invoker grant; retried on 403/429/503 for about a minute",
    }


def model_report(cfg: DeployConfig) -> dict:
    """The fit check and the model's catalog facts, as the plan and the page show them."""
    est = cfg.fit_estimate()
    spec = catalog.model_spec(cfg.model)
    facts = (
        None
        if spec is None
        else {
            "label": spec.label,
            "min_ollama": spec.min_ollama,
            "weights_gb": spec.weights_gb,
            "context": spec.context,
            "licence": spec.licence_label,
        }
    )
    return {
        "engine": "ollama",
        "server": f"ollama/ollama:{catalog.ollama_version()}",
        "model": cfg.model,
        "catalog": facts,
        "embed_model": cfg.embed_model or None,
        "fit": est.to_dict(),
        "summary": est.summary(),
        "warnings": cfg.warnings(),
    }


def created(cfg: DeployConfig) -> list[str]:
    """What a deploy creates (or changes) in the project, in order."""
    out = [f"APIs turned on if off: {', '.join(catalog.required_apis(cfg.use_prebuilt))}"]
    if not cfg.use_prebuilt:
        embed = f" and {cfg.embed_model}" if cfg.embed_model else ""
        out += [
            f"Artifact Registry repository {cfg.repository} in {cfg.region} (if missing)",
            f"Cloud Build image {cfg.image} (ollama/ollama:{catalog.ollama_version()} "
            f"with {cfg.model}{embed} baked in)",
        ]
    out += [
        f"Cloud Run service {cfg.service_name} in {cfg.region}: 1 x {cfg.gpu_type}, "
        f"{cfg.cpu_limit} CPU, {cfg.memory_limit}, concurrency {cfg.concurrency}, "
        f"{cfg.min_instances}-{cfg.max_instances} instances, no public access",
        f"IAM binding {cloudrun.INVOKER} on the service for the caller (if needed)",
    ]
    return out


def plan_text(cfg: DeployConfig, member: str = PLACEHOLDER_MEMBER, endpoints: Endpoints | None = None) -> str:
    """The dry run for people: the memory estimate, then each request in order."""
    endpoints = endpoints or Endpoints()
    report = model_report(cfg)
    lines = [f"# GPU memory: {report['summary']}", *[f"# warning: {w}" for w in report["warnings"]], ""]
    reqs = plan_requests(cfg, member)
    for i, req in enumerate(reqs, 1):
        when = f"  [{req.when}]" if req.when else ""
        lines.append(f"# {i}. {req.purpose}{when}\n{req.describe(endpoints)}\n")
    call = warm_up_call(cfg)
    lines.append(
        f"# {len(reqs) + 1}. {call['purpose']}  [{call['when']}]\n"
        f"{call['method']} {call['url']} ({call['auth']})\n{json.dumps(call['body'])}"
    )
    return "\n".join(lines)


def plan_json(
    cfg: DeployConfig, endpoints: Endpoints | None = None, member: str = PLACEHOLDER_MEMBER
) -> dict:
    from .job import STEPS

    endpoints = endpoints or Endpoints()
    return {
        "steps": [{"step": step, "title": title} for step, title in STEPS],
        "config": cfg.to_dict(),
        "model": model_report(cfg),
        "creates": created(cfg),
        "image": cfg.image,
        "concurrency_advice": catalog.concurrency_advice(cfg.concurrency, cfg.ollama_num_parallel),
        "cost_note": catalog.cost_note(
            cfg.gpu_type, cfg.cpu_limit, cfg.memory_limit, cfg.min_instances, cfg.max_instances
        ),
        "notes": [
            "The service runs the built image pinned by digest (name@sha256:...).",
            "Names in CAPITALS are filled in from Google's answers.",
        ],
        "requests": [r.to_dict(endpoints) for r in plan_requests(cfg, member)],
        "warm_up": warm_up_call(cfg),
    }


def _cmd(*parts: str, flags: list[str] = ()) -> str:
    head = " ".join(parts)
    return " \\\n    ".join([head, *flags]) if flags else head


def gcloud_commands(cfg: DeployConfig, member: str = PLACEHOLDER_MEMBER) -> list[str]:
    """The same deploy as the notebook's gcloud cells."""
    cfg.validate()
    q, p = shlex.quote, f"--project={cfg.project}"
    cmds = [_cmd("gcloud services enable", *catalog.required_apis(cfg.use_prebuilt), p)]
    if not cfg.use_prebuilt:
        cmds.append(
            _cmd(
                "gcloud artifacts repositories create",
                cfg.repository,
                flags=["--repository-format=docker", f"--location={cfg.region}", p],
            )
        )
        subs = ",".join(f"{k}={v}" for k, v in cloudbuild.substitutions(cfg).items())
        cmds.append(
            _cmd(
                "gcloud builds submit ollama_container",
                flags=[
                    "--config=ollama_container/cloudbuild.json",
                    f"--substitutions={q(subs)}",
                    f"--region={cfg.build_region}",
                    p,
                ],
            )
        )
    cmds.append(
        _cmd(
            "gcloud beta run deploy" if cfg.gpu.preview else "gcloud run deploy",
            cfg.service_name,
            flags=_deploy_flags(cfg),
        )
    )
    cmds.append(
        _cmd(
            "gcloud run services add-iam-policy-binding",
            cfg.service_name,
            flags=[f"--member={q(member)}", f"--role={cloudrun.INVOKER}", f"--region={cfg.region}", p],
        )
    )
    url = (
        f"$(gcloud run services describe {cfg.service_name} --region={cfg.region} {p} "
        "--format='value(status.url)')"
    )
    cmds.append(
        _cmd(
            f'curl -sS -X POST "{url}/api/generate"',
            flags=[
                '-H "Authorization: Bearer $(gcloud auth print-identity-token)"',
                "-H 'Content-Type: application/json'",
                f"-d {q(json.dumps({'model': cfg.model}))}",
            ],
        )
    )
    return cmds


def _deploy_flags(cfg: DeployConfig) -> list[str]:
    probe = ",".join(f"{k}={v}" for k, v in cloudrun.STARTUP_PROBE.items() if k != "tcpSocket")
    flags = [
        f"--image={cfg.image}",
        f"--region={cfg.region}",
        f"--project={cfg.project}",
        *cloudrun.gpu_flags(cfg),
        f"--port={cloudrun.PORT}",
        f"--concurrency={cfg.concurrency}",
        f"--set-env-vars=OLLAMA_NUM_PARALLEL={cfg.ollama_num_parallel},"
        f"OLLAMA_CONTEXT_LENGTH={cfg.context_length}",
        f"--max-instances={cfg.max_instances}",
        f"--min-instances={cfg.min_instances}",
        f"--timeout={cfg.timeout_s}",
        f"--startup-probe=tcpSocket.port={cloudrun.PORT},{probe}",
        labels_flag(model=model_slug(cfg.model)),
        "--no-allow-unauthenticated",
    ]
    if cfg.service_account:
        flags.append(f"--service-account={cfg.service_account}")
    return flags
