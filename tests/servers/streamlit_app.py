"""`streamlit run streamlit_app.py` on a free loopback port, as a context manager.

Used by the browser tests and by bench/first_answer.py: the real server, started
the way a person starts it, with the environment the caller gives.
"""

from __future__ import annotations

import contextlib
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parent.parent.parent
# Debian's chromium (./setup.sh): `playwright install` cannot download a browser here.
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def running_app(env: Mapping[str, str], log_path: Path | None = None, timeout: float = 90) -> Iterator[str]:
    """Yield the app's base URL once /_stcore/health answers; stop the server afterwards."""
    with app_process(env, log_path, timeout) as (url, _):
        yield url


@contextlib.contextmanager
def app_process(
    env: Mapping[str, str], log_path: Path | None = None, timeout: float = 90, cwd: Path = ROOT
) -> Iterator[tuple[str, subprocess.Popen]]:
    """`running_app`, with the server's process too (bench/load_room.py reads its memory);
    `cwd` may be a copy of the tree, so that a long run is not changed by edits under way."""
    port = free_port()
    log = open(log_path, "w") if log_path else subprocess.DEVNULL  # noqa: SIM115
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "streamlit",
            "run",
            "streamlit_app.py",
            "--server.headless",
            "true",
            "--server.address",
            "127.0.0.1",
            "--server.port",
            str(port),
            "--browser.gatherUsageStats",
            "false",
        ],
        cwd=cwd,
        env=dict(env),
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.time() + timeout
        while True:
            try:
                if requests.get(f"{url}/_stcore/health", timeout=1).ok:
                    break
            except requests.RequestException:
                pass
            if time.time() > deadline or process.poll() is not None:
                raise RuntimeError(f"streamlit did not start (see {log_path or 'its output'})")
            time.sleep(0.2)
        yield url, process
    finally:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:  # a loaded machine: a stuck shutdown must not fail the test
            process.kill()
            process.wait(timeout=20)
        if log_path:
            log.close()  # type: ignore[union-attr]
