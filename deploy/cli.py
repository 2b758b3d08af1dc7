"""`python -m deploy`: plan (the dry run), preflight, deploy, resume, cleanup, ui, catalog, tune."""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import signal
import sys
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING

from deploy import catalog
from deploy.config import DEFAULT_STATE_DIR, DeployConfig
from deploy.errors import ConfigError, DeployError
from deploy.events import Event

if TYPE_CHECKING:
    from deploy.vllm import VllmOptions


def _config_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--project", required=True)
    p.add_argument("--region", required=True)
    p.add_argument("--model", default=catalog.DEFAULT_MODEL)
    p.add_argument("--gpu-type", default=catalog.DEFAULT_GPU, choices=list(catalog.GPU_TYPES))
    p.add_argument("--concurrency", type=int, default=catalog.DEFAULT_CONCURRENCY)
    p.add_argument(
        "--num-parallel", type=int, default=None, help="OLLAMA_NUM_PARALLEL (default: same as --concurrency)"
    )
    p.add_argument(
        "--context-length",
        type=int,
        default=catalog.DEFAULT_CONTEXT,
        help="OLLAMA_CONTEXT_LENGTH, tokens per parallel request (default: %(default)s)",
    )
    p.add_argument(
        "--embed-model",
        default=catalog.EMBED_MODEL,
        help="embedding model baked next to the chat model; '' for none (default: %(default)s)",
    )
    p.add_argument("--max-instances", type=int, default=1)
    p.add_argument("--min-instances", type=int, default=0)
    p.add_argument("--cpu", default=None)
    p.add_argument("--memory", default=None)
    p.add_argument("--service", default=None)
    p.add_argument("--repository", default="ollama-workshop")
    p.add_argument("--gpu-zonal-redundancy", action="store_true")
    p.add_argument("--prebuilt", action="store_true", help="Google's prebuilt Gemma image")
    p.add_argument(
        "--invoker", action="append", default=[], help="IAM member allowed to call the service (repeatable)"
    )
    _engine_args(p)
    p.add_argument(
        "--build-location",
        default=None,
        help="Cloud Build region (default: --region; the deploy falls back to "
        f"{catalog.FALLBACK_BUILD_REGION} once if Cloud Build refuses it)",
    )


def _engine_args(p: argparse.ArgumentParser) -> None:
    from deploy import vllm

    p.add_argument(
        "--engine",
        choices=vllm.ENGINES,
        default="ollama",
        help="ollama (an image built with the model baked in) or vllm (an OpenAI-compatible "
        "server; --num-parallel is its --max-num-seqs, --context-length its "
        "--max-model-len)",
    )
    g = p.add_argument_group("vllm engine")
    g.add_argument("--weights-bucket", default="", help="Cloud Storage bucket holding the weights")
    g.add_argument("--weights-dir", default="", help="folder in the bucket (default: the repository name)")
    g.add_argument("--hf-model", default="", help="Hugging Face repository (default: the catalog's)")
    g.add_argument(
        "--hf-token-secret",
        default="",
        help="Secret Manager secret with a Hugging Face token (only without a bucket)",
    )
    g.add_argument("--gpu-memory-utilization", type=float, default=0.90)
    g.add_argument(
        "--vllm-image",
        default="",
        help="(default: Google's Gemma 4 vLLM image for Gemma 4, vllm/vllm-openai otherwise)",
    )
    g.add_argument("--vllm-arg", action="append", default=[], help="extra `vllm serve` flag (repeatable)")


def _vllm(ns: argparse.Namespace) -> tuple[DeployConfig, VllmOptions]:
    """The config (validated with its vLLM options) and those options."""
    cfg = _config(ns)
    return cfg, cfg.vllm_options()


def _config(ns: argparse.Namespace) -> DeployConfig:
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
    return float(os.environ.get("DEPLOY_POLL_SECONDS", "5"))  # tests and emulators set 0


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
    _ui_args(sub.add_parser("ui", help="host this app on Cloud Run, calling an Ollama service"))
    sub.add_parser("catalog", help="GPU types, their minimums and regions")
    _tune_args(sub.add_parser("tune", help="load-test an Ollama URL; recommend concurrency settings"))
    return parser


def _ui_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--project", required=True)
    p.add_argument("--region", required=True, help="the UI's region, also the Ollama service's")
    p.add_argument("--image", required=True, help="the UI image (built from the root Dockerfile)")
    p.add_argument("--ollama-url", required=True, help="the Ollama service's URL")
    p.add_argument(
        "--ollama-service", default=None, help="the Ollama service's name (default: ollama-<model>)"
    )
    p.add_argument("--model", default=catalog.DEFAULT_MODEL, help="(default: %(default)s)")
    p.add_argument(
        "--admin-secret-name",
        default=None,
        help="Secret Manager secret holding DEPLOY_ADMIN_SECRET (enables the Deploy page)",
    )
    p.add_argument(
        "--cookie-secret-name",
        default=None,
        help="Secret Manager secret for Streamlit's cookie secret (default: generated)",
    )
    p.add_argument(
        "--index-bucket",
        default=None,
        help="a Cloud Storage bucket holding the leader's index, mounted read-only (sets RAG_INDEX)",
    )
    p.add_argument(
        "--index-file",
        default="index.ragidx",
        help="the index's object name in that bucket (default: %(default)s)",
    )
    p.add_argument("--json", action="store_true", help="print the result as JSON")


def _positive(kind: type) -> Callable[[str], float]:
    def parse(text: str) -> float:
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a {kind.__name__}") from None
        if value <= 0:
            raise argparse.ArgumentTypeError(f"{text} must be more than 0")
        return value

    return parse


def _tune_args(p: argparse.ArgumentParser) -> None:
    # Defaults of None mean SweepSettings' own (named in the help), so building the parser stays cheap.
    p.add_argument(
        "url",
        help="base URL of an Ollama or OpenAI-compatible server (vLLM), e.g. a Cloud "
        "Run service URL or http://localhost:11434; the API is detected",
    )
    p.add_argument(
        "--model",
        default="",
        help="(default: the catalog's default on Ollama, the first served model on an "
        "OpenAI-compatible server)",
    )
    p.add_argument(
        "--levels",
        type=_positive(int),
        nargs="+",
        default=None,
        help="concurrent requests to try (default: 1 2 4 8 16)",
    )
    p.add_argument(
        "--requests",
        type=_positive(int),
        default=None,
        help="requests per level (default: max(8, 2 x level))",
    )
    p.add_argument(
        "--max-tokens", type=_positive(int), default=None, help="num_predict per answer (default: 256)"
    )
    p.add_argument(
        "--time-cap", type=_positive(float), default=None, help="seconds for the whole sweep (default: 600)"
    )
    p.add_argument(
        "--level-cap", type=_positive(float), default=None, help="seconds per level (default: 180)"
    )
    _tune_target_args(p)


def _tune_target_args(p: argparse.ArgumentParser) -> None:
    """How to call the server, and what the recommendation aims at."""
    auth = p.add_mutually_exclusive_group()
    auth.add_argument(
        "--cloudrun", action="store_true", help="send a Google ID token (default for *.run.app URLs)"
    )
    auth.add_argument(
        "--token",
        default=os.environ.get("OLLAMA_BEARER_TOKEN", ""),
        help="bearer token for a server behind a proxy or vLLM's --api-key (default: $OLLAMA_BEARER_TOKEN)",
    )
    p.add_argument(
        "--latency-target",
        type=_positive(float),
        default=20.0,
        help="p95 seconds per whole answer (default: %(default)s)",
    )
    p.add_argument(
        "--participants",
        type=_positive(int),
        default=20,
        help="workshop participants, for --max-instances (default: %(default)s)",
    )
    p.add_argument(
        "--served-parallel",
        type=_positive(int),
        default=None,
        help="OLLAMA_NUM_PARALLEL the service runs with now, if known",
    )
    p.add_argument("--json", action="store_true", help="report and recommendation as JSON")


def main(argv: list[str] | None = None) -> int:
    ns = build_parser().parse_args(argv)
    try:
        return _COMMANDS[ns.command](ns)
    except DeployError as err:
        print(f"error: {err.message}\nfix: {err.fix}", file=sys.stderr)
        return 2


def _plan(ns: argparse.Namespace) -> int:
    from deploy import plan

    if ns.engine == "vllm":
        return _plan_vllm(ns)
    cfg = _config(ns)
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
    from deploy import plan, vllm

    cfg, opts = _vllm(ns)
    member = ns.invoker[0] if ns.invoker else plan.PLACEHOLDER_MEMBER
    if ns.json:
        print(json.dumps(vllm.plan_json(cfg, opts, member), indent=2))
    elif ns.gcloud:
        print("\n\n".join(vllm.gcloud_commands(cfg, opts, member)))
    else:
        print(vllm.plan_text(cfg, opts, member))
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

    job = DeployJob.create(_config(ns), ns.state_dir, poll_interval=_poll_seconds())
    print(f"state file: {job.path}")
    return _print_events(job.run())


def _load(ns: argparse.Namespace):
    from deploy.job import DeployJob

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


def _resume(ns: argparse.Namespace) -> int:
    return _print_events(_load(ns).run())


def _cleanup(ns: argparse.Namespace) -> int:
    job = _load(ns)
    return _print_events(job.cleanup(delete_image=ns.delete_image, delete_repository=ns.delete_repository))


def _ui(ns: argparse.Namespace) -> int:
    """Progress goes to stderr; stdout gets only the result (the URL, or --json)."""
    from deploy.hosting import UiConfig, deploy_ui
    from deploy.http import GoogleHttp

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


def _catalog(ns: argparse.Namespace) -> int:
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


def _tune(ns: argparse.Namespace) -> int:
    from deploy import tune

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
    try:
        with _cancel_on_ctrl_c(cancel):
            report = tune.sweep(
                target,
                ns.model,
                settings,
                cancel=cancel,
                on_progress=lambda p: print(p.line(), file=sys.stderr, flush=True),
            )
    except tune.TuneError as err:
        print(f"error: {err.message}\nfix: {err.fix}", file=sys.stderr)
        return 1
    rec = tune.recommend(report, ns.latency_target, ns.participants, served_parallel=ns.served_parallel)
    if ns.json:
        print(json.dumps({"report": report.to_dict(), "recommendation": rec.to_dict()}, indent=2))
    else:
        print(f"{report.model} at {report.url}: {report.stop_reason} in {report.elapsed_s:.0f} s\n")
        print(report.table())
        print(f"\nFor p95 <= {ns.latency_target:g} s and {ns.participants} participants:\n{rec.text()}")
        print(f"\npython -m deploy deploy ... {rec.as_cli_args()}")
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


_COMMANDS = {
    "plan": _plan,
    "preflight": _preflight,
    "deploy": _deploy,
    "resume": _resume,
    "cleanup": _cleanup,
    "ui": _ui,
    "catalog": _catalog,
    "tune": _tune,
}
