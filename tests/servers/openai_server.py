"""A real OpenAI-compatible server on loopback: llama-cpp-python's `llama_cpp.server`
serving the packaged Gemma 3 270M, started as a subprocess and killed afterwards.

Requests are queued, not interrupted (`--interrupt_requests False`): side by side sends
two at once, and by default llama.cpp's server would cut the first stream for the second.
One or two threads: the test machines share two cores. The packaged model is a base
model: under Gemma's chat template it ends its turn at once, so the server lays chats
out as Alpaca instructions (`--chat_format alpaca`), which it continues with text.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import tempfile
import time

import httpx

ALIAS = "gemma3-270m"
START_TIMEOUT_S = 90.0  # loading 270M takes seconds; a cold disk and a busy CPU, more


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class LlamaCppServer:
    """`with LlamaCppServer() as server: server.url` (no `/v1`), `server.alias`."""

    def __init__(self, *, threads: int = 1, n_ctx: int = 2048, api_key: str = "") -> None:
        from rag.llms.embedded import model_path

        self.alias = ALIAS
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.api_key = api_key
        self.command = [
            sys.executable,
            "-m",
            "llama_cpp.server",
            "--model",
            str(model_path()),
            "--model_alias",
            ALIAS,
            "--host",
            "127.0.0.1",
            "--port",
            str(self.port),
            "--n_threads",
            str(threads),
            "--n_threads_batch",
            str(threads),
            "--n_ctx",
            str(n_ctx),
            "--interrupt_requests",
            "False",
            "--chat_format",
            "alpaca",
            "--verbose",
            "False",
        ]
        if api_key:
            self.command += ["--api_key", api_key]
        self.log = tempfile.TemporaryFile()  # noqa: SIM115 - closed in __exit__
        self.process: subprocess.Popen[bytes] | None = None

    def __enter__(self) -> LlamaCppServer:
        env = {**os.environ, "OMP_NUM_THREADS": "1"}
        self.process = subprocess.Popen(  # its own group, so the kill reaches any child
            self.command, stdout=self.log, stderr=subprocess.STDOUT, env=env, start_new_session=True
        )
        try:
            self._wait_ready()
        except BaseException:
            self.stop()
            raise
        return self

    def _wait_ready(self) -> None:
        deadline = time.monotonic() + START_TIMEOUT_S
        headers = {"Authorization": f"Bearer {self.api_key}"} if self.api_key else {}
        while time.monotonic() < deadline:
            assert self.process is not None
            if self.process.poll() is not None:
                raise RuntimeError(f"llama_cpp.server exited ({self.process.returncode}):\n{self.output()}")
            try:
                if httpx.get(f"{self.url}/v1/models", headers=headers, timeout=2).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        raise RuntimeError(f"llama_cpp.server not ready in {START_TIMEOUT_S:.0f} s:\n{self.output()}")

    def output(self) -> str:
        self.log.seek(0)
        return self.log.read().decode(errors="replace")[-3000:]

    def stop(self) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        os.killpg(self.process.pid, signal.SIGTERM)
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=10)

    def __exit__(self, *exc: object) -> None:
        self.stop()
        self.log.close()
