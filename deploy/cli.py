"""`python -m deploy`: plan (the dry run), preflight, deploy, resume, cleanup, catalog."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from deploy import catalog
from deploy.config import DEFAULT_STATE_DIR, DeployConfig
from deploy.errors import DeployError
from deploy.events import Event


def _config_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--project", required=True)
    p.add_argument("--region", required=True)
    p.add_argument("--model", default=catalog.DEFAULT_MODEL)
    p.add_argument("--gpu-type", default=catalog.DEFAULT_GPU, choices=list(catalog.GPU_TYPES))
    p.add_argument("--concurrency", type=int, default=catalog.DEFAULT_CONCURRENCY)
    p.add_argument("--num-parallel", type=int, default=None,
                   help="OLLAMA_NUM_PARALLEL (default: same as --concurrency)")
    p.add_argument("--max-instances", type=int, default=1)
    p.add_argument("--min-instances", type=int, default=0)
    p.add_argument("--cpu", default=None)
    p.add_argument("--memory", default=None)
    p.add_argument("--service", default=None)
    p.add_argument("--repository", default="ollama-workshop")
    p.add_argument("--gpu-zonal-redundancy", action="store_true")
    p.add_argument("--prebuilt", action="store_true", help="Google's prebuilt Gemma image")
    p.add_argument("--invoker", action="append", default=[],
                   help="IAM member allowed to call the service (repeatable)")


def _config(ns: argparse.Namespace) -> DeployConfig:
    return DeployConfig(
        project=ns.project, region=ns.region, model=ns.model, gpu_type=ns.gpu_type,
        concurrency=ns.concurrency, num_parallel=ns.num_parallel,
        max_instances=ns.max_instances, min_instances=ns.min_instances, cpu=ns.cpu,
        memory=ns.memory, service=ns.service, repository=ns.repository,
        gpu_zonal_redundancy=ns.gpu_zonal_redundancy, use_prebuilt=ns.prebuilt,
        invoker_members=tuple(ns.invoker)).validate()


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m deploy", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    plan = sub.add_parser("plan", help="print the requests a deploy would send")
    _config_args(plan)
    fmt = plan.add_mutually_exclusive_group()
    fmt.add_argument("--json", action="store_true", help="method, URL and body, in order")
    fmt.add_argument("--gcloud", action="store_true", help="the equivalent gcloud commands")
    _config_args(sub.add_parser("preflight", help="check credentials, APIs, roles, quota"))
    deploy = sub.add_parser("deploy", help="deploy for real, printing progress")
    _config_args(deploy)
    deploy.add_argument("--state-dir", type=Path, default=DEFAULT_STATE_DIR)
    for name in ("resume", "cleanup"):
        p = sub.add_parser(name, help=f"{name} a deploy from its state file")
        p.add_argument("--state", type=Path, default=None, help="default: the latest job")
        p.add_argument("--state-dir", type=Path, default=DEFAULT_STATE_DIR)
        if name == "cleanup":
            p.add_argument("--delete-image", action="store_true")
            p.add_argument("--delete-repository", action="store_true")
    sub.add_parser("catalog", help="GPU types, their minimums and regions")
    return parser


def main(argv: list[str] | None = None) -> int:
    ns = build_parser().parse_args(argv)
    try:
        return _COMMANDS[ns.command](ns)
    except DeployError as err:
        print(f"error: {err.message}\nfix: {err.fix}", file=sys.stderr)
        return 2


def _plan(ns: argparse.Namespace) -> int:
    from deploy import plan

    cfg = _config(ns)
    member = ns.invoker[0] if ns.invoker else plan.PLACEHOLDER_MEMBER
    if ns.json:
        print(json.dumps(plan.plan_json(cfg, member=member), indent=2))
    elif ns.gcloud:
        print("\n\n".join(plan.gcloud_commands(cfg, member)))
    else:
        from deploy.config import Endpoints

        for i, req in enumerate(plan.plan_requests(cfg, member), 1):
            when = f"  [{req.when}]" if req.when else ""
            print(f"# {i}. {req.purpose}{when}\n{req.describe(Endpoints())}\n")
    return 0


def _preflight(ns: argparse.Namespace) -> int:
    from deploy.preflight import preflight

    results = preflight(_config(ns))
    for r in results:
        fix = f"\n       fix: {r.fix}" if r.fix else ""
        print(f"[{r.status:>4}] {r.name}: {r.message}{fix}")
    return 0 if all(r.ok for r in results) else 1


def _print_events(events) -> int:
    code = 0
    for event in events:
        print(_render(event), flush=True)
        code = 1 if event.type == "failed" else code
    return code


def _render(event: Event) -> str:
    d = event.to_dict()
    kind = d.pop("type")
    if kind == "log_lines":
        return "\n".join(f"  | {line}" for line in d["lines"])
    return f"[{kind}] " + ", ".join(f"{k}={v}" for k, v in d.items() if v not in ("", (), None))


def _deploy(ns: argparse.Namespace) -> int:
    from deploy.job import DeployJob

    job = DeployJob.create(_config(ns), ns.state_dir)
    print(f"state file: {job.path}")
    return _print_events(job.run())


def _load(ns: argparse.Namespace):
    from deploy.job import DeployJob

    job = DeployJob.load(ns.state) if ns.state else DeployJob.latest(ns.state_dir)
    if job is None:
        raise DeployError(f"No deploy state in {ns.state_dir}.", "Run `deploy` first.")
    return job


def _resume(ns: argparse.Namespace) -> int:
    return _print_events(_load(ns).run())


def _cleanup(ns: argparse.Namespace) -> int:
    job = _load(ns)
    return _print_events(job.cleanup(delete_image=ns.delete_image,
                                     delete_repository=ns.delete_repository))


def _catalog(ns: argparse.Namespace) -> int:
    for gpu in catalog.GPU_TYPES.values():
        regions = ", ".join(r.name for r in catalog.regions_for(gpu.name))
        print(f"{gpu.name}: {gpu.label}; min {gpu.min_cpu} CPU / {gpu.min_memory_gib}Gi; "
              f"regions: {regions}")
    return 0


_COMMANDS = {"plan": _plan, "preflight": _preflight, "deploy": _deploy, "resume": _resume,
             "cleanup": _cleanup, "catalog": _catalog}
