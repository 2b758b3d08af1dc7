"""Cold starts under concurrency: the crash a room saw (issue 10 §1), counted.

Two parts, each from a cold process:
1. `--runs` cold `python -m rag ask QUESTION --index I --compare --json` processes on
   a small index of the sample guide: the RAG and raw columns load the embedded
   model's two llama.cpp contexts at the same moment. A crash is a process killed
   by a signal (SIGSEGV exits 139 / -11).
2. `--rounds` cold `streamlit run` servers, each with `--sessions` Chromium sessions
   that build the sample index and then ask their first question at the same
   moment. A crash is the server process dying; an error is a session without
   both answers.

    .venv/bin/python bench/stress_cold.py [--runs 50] [--rounds 3] [--sessions 4]

Writes bench/results/stress-cold.json.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.common import RESULTS, machine  # noqa: E402
from tests.servers.streamlit_app import CHROMIUM, running_app  # noqa: E402

QUESTION = "What does functools.lru_cache do?"
CHAT_QUESTION = "How much memory does a Cloud Run service with an L4 GPU need?"


def cold_asks(runs: int, workdir: Path) -> dict:
    index = workdir / "sample.ragidx"
    pages = sorted(str(p) for p in (ROOT / "sample_docs").glob("*.html"))
    subprocess.run(
        [sys.executable, "-m", "rag", "index", *pages, "--save", str(index), "--quiet"], cwd=ROOT, check=True
    )
    env = {**os.environ, "RAG_MAX_TOKENS": "24"}  # the crash is at load: short answers suffice
    codes, seconds = [], []
    for _ in range(runs):
        started = time.perf_counter()
        done = subprocess.run(
            [sys.executable, "-m", "rag", "ask", QUESTION, "--index", str(index), "--compare", "--json"],
            cwd=ROOT,
            env=env,
            capture_output=True,
            timeout=300,
        )
        seconds.append(time.perf_counter() - started)
        answered = False
        if done.returncode == 0:
            result = json.loads(done.stdout)
            answered = bool(result.get("rag", {}).get("text")) and bool(result.get("raw", {}).get("text"))
        codes.append({"code": done.returncode, "answered": answered})
    return {
        "runs": runs,
        "crashes": sum(1 for c in codes if c["code"] < 0 or c["code"] >= 128),
        "errors": sum(1 for c in codes if c["code"] == 0 and not c["answered"])
        + sum(1 for c in codes if 0 < c["code"] < 128),
        "exit_codes": sorted({c["code"] for c in codes}),
        "seconds_median": sorted(seconds)[len(seconds) // 2] if seconds else None,
    }


def session(browser, url: str, start: threading.Barrier, results: list, i: int) -> None:
    outcome = {"session": i, "answered": False, "error": ""}
    try:
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        page.goto(f"{url}/index")
        page.get_by_role("tab", name="Sample guide (offline)").click(timeout=120_000)
        page.get_by_role("button", name="Index the sample guide").click(timeout=120_000)
        page.get_by_text("pages ok").first.wait_for(timeout=240_000)
        page.get_by_role("link", name="Chat").first.click()
        box = page.get_by_test_id("stChatInputTextArea")
        box.wait_for(timeout=60_000)
        box.fill(CHAT_QUESTION)
        start.wait(timeout=600)
        box.press("Enter")
        page.locator("text=first token").nth(1).wait_for(timeout=600_000)  # both columns finished
        outcome["answered"] = True
        page.close()
    except Exception as exc:  # a session's failure is a result, not the end of the bench
        outcome["error"] = f"{type(exc).__name__}: {str(exc).splitlines()[0][:200]}"
    results.append(outcome)


def simultaneous_first_questions(rounds: int, sessions: int, workdir: Path) -> dict:
    from playwright.sync_api import sync_playwright

    crashes, errors, answered = 0, 0, 0
    for r in range(rounds):
        env = {**os.environ, "DEPLOY_STATE_DIR": str(workdir / f"deploy{r}"), "RAG_MAX_TOKENS": "48"}
        log = workdir / f"streamlit{r}.log"
        with running_app(env, log) as url, sync_playwright() as p:
            # Playwright's sync API is per thread: one browser per session thread.
            start = threading.Barrier(sessions)
            results: list = []

            def run(
                i: int, url: str = url, start: threading.Barrier = start, results: list = results
            ) -> None:
                with sync_playwright() as q:
                    browser = q.chromium.launch(
                        executable_path=CHROMIUM, args=["--no-sandbox", "--disable-gpu"]
                    )
                    session(browser, url, start, results, i)
                    browser.close()

            threads = [threading.Thread(target=run, args=(i,)) for i in range(sessions)]
            for t in threads:
                t.start()
            for t in threads:
                t.join(timeout=900)
            del p
            alive = _server_alive(url)
        crashes += 0 if alive else 1
        answered += sum(1 for o in results if o["answered"])
        errors += sum(1 for o in results if not o["answered"])
        if not alive or errors:
            print(f"round {r}: alive={alive} results={results} (log {log})", file=sys.stderr)
    return {
        "rounds": rounds,
        "sessions": sessions,
        "answered": answered,
        "errors": errors,
        "crashes": crashes,
    }


def _server_alive(url: str) -> bool:
    import requests

    try:
        return requests.get(f"{url}/_stcore/health", timeout=5).ok
    except requests.RequestException:
        return False


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=50, help="cold `ask --compare` processes")
    parser.add_argument("--rounds", type=int, default=3, help="cold streamlit servers")
    parser.add_argument("--sessions", type=int, default=4, help="simultaneous first questions per server")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        asks = cold_asks(args.runs, workdir)
        print("cold ask --compare:", asks)
        app = simultaneous_first_questions(args.rounds, args.sessions, workdir) if args.rounds else None
        print("simultaneous first questions:", app)
    result = {"machine": machine(), "cold_asks": asks, "first_questions": app}
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "stress-cold.json").write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
