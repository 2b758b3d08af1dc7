"""What each `python -m deploy` command does, given its parsed arguments (deploy/cli.py).

Each returns the exit status: 0 done, 1 when what it ran failed. Errors it raises
(`DeployError`) are printed and mapped to a status by `cli.main`. Heavy modules are
imported inside the commands, so the parser (and `--help`) stays quick.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import signal
import sys
import threading
from collections.abc import Callable, Iterable, Iterator
from typing import TYPE_CHECKING

from . import catalog
from .config import DeployConfig, poll_seconds
from .errors import ConfigError, DeployError
from .events import Event

if TYPE_CHECKING:
    from .job import DeployJob
    from .vllm import VllmOptions

__all__ = ["COMMANDS", "config_from"]


def _vllm(ns: argparse.Namespace) -> tuple[DeployConfig, VllmOptions]:
    """The config (validated with its vLLM options) and those options."""
    cfg = config_from(ns)
    return cfg, cfg.vllm_options()


def config_from(ns: argparse.Namespace) -> DeployConfig:
    """Every setting, both engines', validated in one place (DeployConfig.problems)."""
    return DeployConfig(
        project=ns.project,
        region=ns.region,
        model=ns.model,
        gpu_type=ns.gpu_type,
        concurrency=ns.concurrency,
        num_parallel=ns.num_parallel,
        context_length=ns.context_length,
        embed_model=ns.embed_model.strip(),
        max_instances=ns.max_instances,
        min_instances=ns.min_instances,
        cpu=ns.cpu,
        memory=ns.memory,
        service=ns.service,
        repository=ns.repository,
        gpu_zonal_redundancy=ns.gpu_zonal_redundancy,
        use_prebuilt=ns.prebuilt,
        invoker_members=tuple(ns.invoker),
        build_location=ns.build_location,
        engine=ns.engine,
        weights_bucket=ns.weights_bucket,
        weights_dir=ns.weights_dir,
        hf_model=ns.hf_model,
        hf_token_secret=ns.hf_token_secret,
        gpu_memory_utilization=ns.gpu_memory_utilization,
        vllm_image=ns.vllm_image,
        vllm_args=tuple(ns.vllm_arg),
    ).validate()


def _poll_seconds() -> float:
    return poll_seconds()  # DEPLOY_POLL_SECONDS (docs/settings.md); tests and emulators set 0


def cmd_plan(ns: argparse.Namespace) -> int:
    from . import plan

    if ns.engine == "vllm":
        return _plan_vllm(ns)
    cfg = config_from(ns)
    member = ns.invoker[0] if ns.invoker else plan.PLACEHOLDER_MEMBER
    if ns.json:
        print(json.dumps(plan.plan_json(cfg, member=member), indent=2))
    elif ns.gcloud:
        print("\n\n".join(plan.gcloud_commands(cfg, member)))
    else:
        print(plan.plan_text(cfg, member))
    for warning in cfg.warnings():  # e.g. a model outside the catalog: allowed, unchecked
        print(f"warning: {warning}", file=sys.stderr)
    return 0


def _plan_vllm(ns: argparse.Namespace) -> int:
    from . import plan, vllm

    cfg, opts = _vllm(ns)
    member = ns.invoker[0] if ns.invoker else plan.PLACEHOLDER_MEMBER
    if ns.json:
        print(json.dumps(vllm.plan_json(cfg, opts, member), indent=2))
    elif ns.gcloud:
        print("\n\n".join(vllm.gcloud_commands(cfg, opts, member)))
    else:
        print(vllm.plan_text(cfg, opts, member))
    return 0


def cmd_preflight(ns: argparse.Namespace) -> int:
    from .preflight import preflight

    results = preflight(config_from(ns))
    for r in results:
        fix = f"\n       fix: {r.fix}" if r.fix else ""
        print(f"[{r.status:>4}] {r.name}: {r.message}{fix}")
    return 0 if all(r.ok for r in results) else 1


def _print_events(events: Iterable[Event]) -> int:
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


def cmd_deploy(ns: argparse.Namespace) -> int:
    from .job import DeployJob

    job = DeployJob.create(config_from(ns), ns.state_dir, poll_interval=_poll_seconds())
    print(f"state file: {job.path}")
    return _print_events(job.run())


def _load(ns: argparse.Namespace) -> DeployJob:
    from .job import DeployJob

    kwargs = {"poll_interval": _poll_seconds()}
    # A damaged state file raises StateFileError naming it (strict: also when it is the latest).
    job = (
        DeployJob.load(ns.state, **kwargs)
        if ns.state
        else DeployJob.latest(ns.state_dir, strict=True, **kwargs)
    )
    if job is None:
        raise DeployError(f"No deploy state in {ns.state_dir}.", "Run `deploy` first.")
    return job


def cmd_resume(ns: argparse.Namespace) -> int:
    return _print_events(_load(ns).run())


def cmd_cleanup(ns: argparse.Namespace) -> int:
    job = _load(ns)
    return _print_events(job.cleanup(delete_image=ns.delete_image, delete_repository=ns.delete_repository))


def cmd_ui(ns: argparse.Namespace) -> int:
    """Progress goes to stderr; stdout gets only the result (the URL, or --json)."""
    from .hosting import UiConfig, deploy_ui
    from .http import GoogleHttp

    ollama = DeployConfig(
        project=ns.project, region=ns.region, model=ns.model, service=ns.ollama_service
    ).validate()
    ui = UiConfig(
        ns.project,
        ns.region,
        ns.image,
        ollama,
        ollama_url=ns.ollama_url.rstrip("/"),
        cookie_secret_name=ns.cookie_secret_name,
        admin_secret_name=ns.admin_secret_name,
        index_bucket=ns.index_bucket,
        index_file=ns.index_file,
    )
    last = None
    for event in deploy_ui(ui, GoogleHttp(), poll_interval=_poll_seconds()):
        print(_render(event), file=sys.stderr, flush=True)
        last = event
    failed = last is None or last.type == "failed"
    if ns.json:
        print(
            json.dumps(
                {"status": "failed" if failed else "succeeded", "result": last.to_dict() if last else None},
                indent=2,
            )
        )
    elif failed and last is not None:
        print(f"error: {last.message}\nfix: {last.fix}", file=sys.stderr)
    else:
        print(last.url)
    return 1 if failed else 0


def cmd_catalog(ns: argparse.Namespace) -> int:
    for gpu in catalog.GPU_TYPES.values():
        regions = ", ".join(r.name for r in catalog.regions_for(gpu.name))
        print(f"{gpu.name}: {gpu.label}; min {gpu.min_cpu} CPU / {gpu.min_memory_gib}Gi; regions: {regions}")
    print(f"\nModels (image: ollama/ollama:{catalog.ollama_version()}; default: {catalog.DEFAULT_MODEL}):")
    for spec in catalog.models().values():
        print(
            f"{spec.tag}: {spec.label}; {spec.weights_gb:g} GB; context {spec.context:,}; "
            f"Ollama >= {spec.min_ollama}; {spec.licence_label}"
        )
    return 0


def cmd_tune(ns: argparse.Namespace) -> int:
    from . import tune

    given = {
        "levels": tuple(sorted(ns.levels or ())),
        "requests": ns.requests,
        "max_tokens": ns.max_tokens,
        "time_cap_s": ns.time_cap,
        "level_cap_s": ns.level_cap,
    }
    settings = tune.SweepSettings(**{k: v for k, v in given.items() if v})
    if problems := settings.problems():
        raise ConfigError(" ".join(problems), "Change the arguments and try again.")  # exit 2
    target = tune.target_for(ns.url, cloudrun=True if ns.cloudrun else None, token=ns.token)
    cancel = threading.Event()
    with _cancel_on_ctrl_c(cancel):  # a TuneError (can not start) is main's: exit 1
        report = tune.sweep(
            target,
            ns.model,
            settings,
            cancel=cancel,
            on_progress=lambda p: print(p.line(), file=sys.stderr, flush=True),
        )
    rec = tune.recommend(report, ns.latency_target, ns.participants, served_parallel=ns.served_parallel)
    if ns.json:
        print(json.dumps({"report": report.to_dict(), "recommendation": rec.to_dict()}, indent=2))
    else:
        print(f"{report.model} at {report.url}: {report.stop_reason} in {report.elapsed_s:.0f} s\n")
        print(report.table())
        print(f"\nFor p95 <= {ns.latency_target:g} s and {ns.participants} participants:\n{rec.text()}")
        print(f"\npython -m deploy deploy ... {rec.as_cli_args()}")
    if cancel.is_set():
        print("stopped; the report covers what was measured before Ctrl-C.", file=sys.stderr)
        return 130
    return 0


@contextlib.contextmanager
def _cancel_on_ctrl_c(cancel: threading.Event) -> Iterator[None]:
    """Ctrl-C stops the sweep at once and still prints what was measured."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGINT, lambda *_: cancel.set())
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


COMMANDS: dict[str, Callable[[argparse.Namespace], int]] = {
    "plan": cmd_plan,
    "preflight": cmd_preflight,
    "deploy": cmd_deploy,
    "resume": cmd_resume,
    "cleanup": cmd_cleanup,
    "ui": cmd_ui,
    "catalog": cmd_catalog,
    "tune": cmd_tune,
}
