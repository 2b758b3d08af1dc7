"""The server side of the room bench (bench/load_room.py): the app's environment for a target,
the Ollama protocol server's answers and pace, a copy of the working tree to serve, and the
server's memory, read from /proc while the sessions run.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from bench.common import ROOT
from tests.servers.ollama import OllamaState

# The Ollama server's answers: a GPU serving gemma2:9b streams about 30 tokens/s per request.
OLLAMA_ANSWER = (
    "A Cloud Run service with an NVIDIA L4 GPU needs at least 4 CPUs and 16 GiB of memory; "
    "8 CPUs and 32 GiB are recommended for Gemma 2 9B, and the instance is billed for its whole "
    "lifetime while it runs, so set a maximum number of instances."
)
OLLAMA_TIMING = {"first_token_delay": 0.2, "token_delay": 0.03}


def ollama_state() -> OllamaState:
    def answer(messages: list[dict]) -> str:
        if "Rewrite a query" in str(messages[0].get("content", "")):
            return "Cloud Run GPU service scaled to zero first request"
        return OLLAMA_ANSWER

    return OllamaState(answer=answer, **OLLAMA_TIMING)


def app_env(target: str, ollama_url: str | None, deploy_dir: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("RAG_", "OLLAMA_", "BENCH_"))}
    env["DEPLOY_STATE_DIR"] = deploy_dir
    env["STREAMLIT_SERVER_FILE_WATCHER_TYPE"] = "none"  # edits elsewhere in the tree must not rerun it
    if target == "ollama":
        env.update(RAG_LLM=f"ollama:{ollama_url}", RAG_MODEL="gemma2:9b")
    return env


def snapshot() -> Path:
    """A copy of the working tree (tracked and untracked files git does not ignore), checked importable."""
    listed = subprocess.run(
        ["git", "ls-files", "-co", "--exclude-standard", "-z"], cwd=ROOT, capture_output=True, check=True
    ).stdout.decode()
    folder = Path(tempfile.mkdtemp(prefix="load-room-tree-"))
    for name in filter(None, listed.split("\0")):
        source = ROOT / name
        if source.is_file():
            (folder / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, folder / name)
    check = [sys.executable, "-c", "import rag.pipeline, rag.chains, rag.side_by_side"]
    if subprocess.run(check, cwd=folder, capture_output=True).returncode:
        sys.exit(f"the working tree does not import right now (copied to {folder}): try again in a moment")
    return folder


def tree_rss_mb(pid: int, kind: str = "VmRSS") -> float:
    """Resident memory of a process and all its descendants, in MB (from /proc); `RssAnon` leaves
    out file-backed pages (libraries, the model file), which the kernel may drop and reload."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        children.setdefault(ppid, []).append(int(entry.name))
    total_kb, todo = 0, [pid]
    while todo:
        p = todo.pop()
        todo += children.get(p, [])
        try:
            status = Path(f"/proc/{p}/status").read_text()
        except OSError:
            continue
        found = re.search(rf"{kind}:\s+(\d+) kB", status)
        total_kb += int(found.group(1)) if found else 0
    return round(total_kb / 1024, 1)


async def sample_memory(pid: int, peak: dict, stop: asyncio.Event) -> None:
    while not stop.is_set():
        peak["mb"] = max(peak["mb"], tree_rss_mb(pid))
        peak["load"] = max(peak["load"], os.getloadavg()[0])
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), 1.0)
