"""`python -m deploy`: plan (the dry run), preflight, deploy, resume, cleanup, ui, catalog, tune.

Exit status (as `python -m rag`): 0 when the command did its work; 1 for an error,
printed as its sentence and fix; 2 for bad arguments, including settings that cannot
work together (a GPU the region lacks, a model that does not fit); 130 for Ctrl-C.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from pathlib import Path

from . import catalog
from .commands import COMMANDS
from .config import setting, state_dir
from .errors import ConfigError, DeployError

__all__ = ["build_parser", "main"]

# The command line is here; what each command does is in deploy/commands.py.


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
    from . import vllm

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
    deploy.add_argument("--state-dir", type=Path, default=state_dir())  # DEPLOY_STATE_DIR
    for name in ("resume", "cleanup"):
        p = sub.add_parser(name, help=f"{name} a deploy from its state file")
        p.add_argument("--state", type=Path, default=None, help="default: the latest job")
        p.add_argument("--state-dir", type=Path, default=state_dir())
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
        default=setting("ollama_token"),
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
    """Run one command; the exit status follows the module docstring's convention."""
    command = ""
    try:
        ns = build_parser().parse_args(argv)  # argparse exits 2 itself for bad arguments
        command = ns.command
        return COMMANDS[command](ns)
    except DeployError as err:
        print(f"error: {err.message}\nfix: {err.fix}", file=sys.stderr)
        return 2 if isinstance(err, ConfigError) else 1
    except KeyboardInterrupt:
        print(_STOPPED.get(command, "stopped."), file=sys.stderr)
        return 130


# What Ctrl-C leaves behind, in one line; the job's state file lets a later run carry on.
_STOPPED = {
    "deploy": "stopped; anything already sent keeps running: `python -m deploy resume` follows it.",
    "resume": "stopped; anything already sent keeps running: `python -m deploy resume` follows it.",
    "cleanup": "stopped; `python -m deploy cleanup` again finishes the clean-up.",
}
