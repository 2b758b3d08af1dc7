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
        cwd=ROOT,
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
        yield url
    finally:
        process.terminate()
        process.wait(timeout=20)
        if log_path:
            log.close()  # type: ignore[union-attr]
