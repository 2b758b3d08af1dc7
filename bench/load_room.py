"""A room at once: N concurrent sessions in one Chromium against `streamlit run`.

    nice -n 10 .venv/bin/python bench/load_room.py [--sessions 30] [--questions 3]
        [--target ollama|embedded|both] [--time-limit 3000] [--stall 600]

One headless Chromium (Debian's, through Playwright), one browser context per
session, each on the real websocket protocol. A session opens the app, builds the
sample-guide index on the Index page (the shared embedding cache makes every build
after the first cheap), then asks its questions on the Chat page, one of them a
follow-up, and waits for both columns (RAG and the model alone) to finish.

Per target, in one run of one server:
1. a single session alone: the single-session figures;
2. the room's sessions open and index in waves (1, then up to 10, then all), the
   server's memory read after each wave (RSS of the streamlit process and its
   children, from /proc);
3. all of them ask their first question within two seconds of each other, and
   their next ones after a few seconds of reading.
Times are taken in the browser: a MutationObserver stamps, with the page's clock,
the Enter key, the first streamed text in each column and the column's finished
answer (its timings caption), or an error box.

Targets: `ollama`, the protocol-faithful Ollama server (tests/servers/ollama.py)
decoding every request in parallel, the app pointed at it with RAG_LLM=ollama:URL;
`embedded`, the app's defaults (Gemma 3 270M in-process, two llama.cpp contexts),
where questions queue for a context: a column that waits should say so ("waiting
for the model"), and is recorded as an error only when nothing on its page has
changed for `--stall` seconds. Sessions still running at `--time-limit` are
recorded as cut, never as completed. Results: bench/results/load-room.json (a run
of one target keeps the other's entry); evidence of failures (screenshots, the
server's log) under artifacts/load-room/.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import random
import re
import shutil
import signal
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import RESULTS, ROOT, machine, percentile
from rag.evaluation import load_questions
from tests.servers.ollama import FakeOllama, OllamaState
from tests.servers.streamlit_app import CHROMIUM, app_process

ARTIFACTS = ROOT / "artifacts" / "load-room"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-renderer-backgrounding",
    "--disable-background-timer-throttling",
]
# The Ollama server's answers: a GPU serving gemma2:9b streams about 30 tokens/s per request.
OLLAMA_ANSWER = (
    "A Cloud Run service with an NVIDIA L4 GPU needs at least 4 CPUs and 16 GiB of memory; "
    "8 CPUs and 32 GiB are recommended for Gemma 2 9B, and the instance is billed for its whole "
    "lifetime while it runs, so set a maximum number of instances."
)
OLLAMA_TIMING = {"first_token_delay": 0.2, "token_delay": 0.03}
SCREENSHOTS = 6  # at most this many per target
APP_FIRST_TOKEN = re.compile(r"first token ([\d.]+) s")  # the column's own timings caption
START_S, THINK_S = 2.0, (1.0, 4.0)  # a room's first questions come within START_S; then it reads

# Installed in every page before the app's scripts. The Enter key in the chat box arms it;
# each DOM mutation then checks the two newest columns. performance.now() is in ms.
PROBE = r"""
(() => {
  const COLS = '[data-testid="stColumn"]';
  const TOTAL = /total \d+(\.\d+)? s/;
  const WAITING = /waiting for the model/i;
  const ERRORS = '[data-testid="stAlertContentError"], [data-testid="stException"]';
  const room = { armed: false, question: '', seen: 0, t0: 0, lastChange: performance.now() };
  const reset = () => Object.assign(room, { first: [null, null], done: [null, null],
    error: [null, null], waiting: [false, false], text: [null, null], caption: [null, null],
    pageError: null });
  reset();
  const streaming = (col) => [...col.querySelectorAll('[data-testid="stMarkdownContainer"]')]
    .some((el) => el.textContent.includes('\u258c') && !WAITING.test(el.textContent));
  const norm = (t) => (t || '').replace(/\s+/g, ' ').trim();
  const asked = () => [...document.querySelectorAll('[data-testid="stChatMessage"]')]
    .filter((m) => norm(m.textContent).includes(room.question));
  // This turn's columns: the first two after the chat message of its question (the question's
  // earlier asks come before it). The previous turn's finished columns linger at their old
  // place while a run redraws the page, so counting columns would find them.
  function turnColumns() {
    const msg = asked()[room.seen];
    if (!msg) return [];
    return [...document.querySelectorAll(COLS)]
      .filter((c) => msg.compareDocumentPosition(c) & Node.DOCUMENT_POSITION_FOLLOWING).slice(0, 2);
  }
  function check() {
    const now = performance.now();
    room.lastChange = now;
    if (!room.armed) return;
    const cols = turnColumns();
    for (let j = 0; j < 2; j++) {
      const col = cols[j];
      if (!col || room.done[j] !== null) continue;
      const text = col.textContent || '';
      if (WAITING.test(text)) room.waiting[j] = true;
      const bad = col.querySelector(ERRORS);
      if (bad) { room.error[j] = bad.textContent.slice(0, 400); room.done[j] = now; }
      else if (TOTAL.test(text)) room.done[j] = now;
      if (room.done[j] !== null) {
        room.text[j] = text.slice(0, 240);
        const boxes = '[data-testid="stMarkdownContainer"], [data-testid="stCaptionContainer"]';
        const timed = [...col.querySelectorAll(boxes)]
          .filter((el) => TOTAL.test(el.textContent));
        room.caption[j] = timed.length ? timed[timed.length - 1].textContent : null;
      }
      if (room.first[j] === null && (room.done[j] !== null || streaming(col))) room.first[j] = now;
    }
    const bad = document.querySelector(ERRORS);
    if (bad && !room.pageError && room.done.some((d) => d === null)) {
      const inColumn = cols.some((c) => c.contains(bad));
      if (!inColumn) room.pageError = bad.textContent.slice(0, 400);
    }
  }
  new MutationObserver(check).observe(document, { childList: true, subtree: true, characterData: true });
  document.addEventListener('keydown', (e) => {
    const box = e.target && e.target.getAttribute && e.target.getAttribute('data-testid');
    if (e.key !== 'Enter' || e.shiftKey || box !== 'stChatInputTextArea') return;
    reset();
    room.question = norm(e.target.value).slice(0, 40);
    Object.assign(room, { armed: true, t0: performance.now(), seen: asked().length });
  }, true);
  room.settled = () => room.pageError !== null || room.done.every((d) => d !== null);
  room.result = () => {
    const s = (t) => (t === null ? null : (t - room.t0) / 1000);
    return { first: room.first.map(s), done: room.done.map(s), error: room.error,
             waiting: room.waiting, text: room.text, caption: room.caption, pageError: room.pageError };
  };
  window.__room = room;
})();
"""
INDEXED = """() => {
  const t = document.body ? document.body.textContent : '';
  if (t.includes('pages ok')) return 'ok';
  if (t.includes('Indexing failed') || t.includes('No page could be indexed')) return 'failed';
  return document.querySelector('[data-testid="stException"]') ? 'failed' : false;
}"""


class Crash(Exception):
    """The streamlit process died."""


class TimeLimit(Exception):
    """The run's own time bound: the session is cut, not failed."""


@dataclass
class Limits:
    process: Any  # the streamlit subprocess.Popen
    stall_s: float
    deadline: float  # time.monotonic()
    target: str = ""  # names the sessions and their screenshots


@dataclass
class Live:
    """One session: its browser context and what happened to it."""

    name: str
    context: Any = None
    page: Any = None
    index_s: float | None = None
    turns: list[dict] = field(default_factory=list)
    error: str | None = None
    cut: bool = False
    ws_lost: int = 0
    closing: bool = False


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


def question_plan(session: int, count: int) -> list[str]:
    """A question and its follow-up, then a standalone question; more standalone ones past 3."""
    items = load_questions(ROOT / "rag" / "data" / "sample-guide-qa.jsonl")
    alone = [q.question for q in items if not q.history]
    chains = [(q.history[0]["content"], q.question) for q in items if q.history]
    first, follow = chains[session % len(chains)]
    plan = [first, follow, alone[session % len(alone)]]
    plan += [alone[(session + k) % len(alone)] for k in range(1, max(count - 2, 1))]
    return plan[:count]


async def wait_js(page: Any, predicate: str, limits: Limits, what: str) -> Any:
    """Wait for a JS predicate; fail on a dead server or a page quiet for `stall_s`, cut at the deadline."""
    from playwright.async_api import TimeoutError as PlaywrightTimeout

    while True:
        if limits.process.poll() is not None:
            raise Crash(f"the streamlit process exited ({limits.process.returncode}) while {what}")
        try:
            handle = await page.wait_for_function(predicate, polling=250, timeout=15_000)
            return await handle.json_value()
        except PlaywrightTimeout:
            quiet = await page.evaluate("(performance.now() - window.__room.lastChange) / 1000")
            if quiet > limits.stall_s:
                raise RuntimeError(f"no progress for {quiet:.0f} s while {what}") from None
            if time.monotonic() > limits.deadline:
                raise TimeLimit(what) from None


async def open_and_index(browser: Any, url: str, name: str, limits: Limits) -> Live:
    live = Live(name)
    try:
        live.context = await browser.new_context(viewport={"width": 1280, "height": 900})
        live.context.set_default_timeout(180_000)
        await live.context.add_init_script(PROBE)
        live.page = page = await live.context.new_page()
        page.on("websocket", lambda ws: ws.on("close", lambda _: _lost(live)))
        await page.goto(f"{url}/index")
        await page.get_by_role("tab", name="Sample guide (offline)").click()
        started = time.monotonic()
        await page.get_by_role("button", name="Index the sample guide").click()
        outcome = await wait_js(page, INDEXED, limits, "indexing the sample guide")
        if outcome != "ok":
            raise RuntimeError("indexing the sample guide failed on the page")
        live.index_s = round(time.monotonic() - started, 2)
        await page.get_by_role("link", name="Chat").first.click()
        await page.get_by_test_id("stChatInputTextArea").wait_for()
    except Exception as error:
        await _failed(live, error, "index")
    return live


def _lost(live: Live) -> None:
    """A websocket closed under a session: counted as a crash; the page reconnects, the session goes on."""
    if not live.closing:
        live.ws_lost += 1
        say(f"{live.name}: websocket closed (turn {len(live.turns) + 1})")


def say(text: str) -> None:
    print(f"{time.strftime('%H:%M:%S')} {text}", file=sys.stderr, flush=True)


async def _failed(live: Live, error: BaseException, step: str) -> None:
    if isinstance(error, TimeLimit):
        live.cut = True
        say(f"{live.name} cut by the time limit at {step}")
        return
    live.error = f"{step}: {type(error).__name__}: {str(error).splitlines()[0][:300] if str(error) else ''}"
    say(f"{live.name} failed: {live.error}")
    shots = sorted(ARTIFACTS.glob(f"{live.name.split('-')[0]}-*.png"))
    if live.page is not None and len(shots) < SCREENSHOTS:
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        with contextlib.suppress(Exception):  # a dead page has no picture: the error text stands
            await live.page.screenshot(path=str(ARTIFACTS / f"{live.name}-{step}.png"), full_page=True)


async def ask(live: Live, question: str, limits: Limits) -> dict:
    box = live.page.get_by_test_id("stChatInputTextArea")
    await box.fill(question)
    await box.press("Enter")
    await wait_js(live.page, "() => window.__room.settled()", limits, f"answering {question!r}")
    turn = await live.page.evaluate("window.__room.result()")
    turn["question"] = question
    found = [APP_FIRST_TOKEN.search(c or "") for c in turn["caption"]]
    turn["app_first"] = [float(f.group(1)) if f else None for f in found]  # as the app timed it
    return turn


async def converse(live: Live, questions: list[str], limits: Limits, rng: random.Random, room: bool) -> None:
    """Ask each question once both columns of the previous one finished; stop at the first error
    (a lost websocket is not one: Streamlit's page reconnects, and the loss is counted as a crash)."""
    if live.error or live.cut:
        return
    try:
        for k, question in enumerate(questions):
            if room:  # a room asks within seconds, then reads each answer for a few
                await asyncio.sleep(rng.uniform(0, START_S) if k == 0 else rng.uniform(*THINK_S))
            turn = await ask(live, question, limits)
            live.turns.append(turn)
            times = [None if t is None else round(t, 2) for t in turn["first"] + turn["done"]]
            say(f"{live.name} turn {k + 1}: first token, answer (RAG, raw) {times}")
            problem = turn["pageError"] or next((e for e in turn["error"] if e), None)
            if problem:
                raise RuntimeError(f"error shown on the page: {problem}")
        if live.name.endswith(("-single", "-s01")):  # what a finished session looks like, for the record
            await live.page.screenshot(path=str(ARTIFACTS / f"{live.name}-done.png"), full_page=True)
    except Exception as error:
        await _failed(live, error, f"turn{len(live.turns) + 1}")


def stats(turns: list[dict]) -> dict:
    """p50/p95 of time to first token and to the finished answer, per column and over both."""
    out: dict[str, dict] = {}
    keys = (("first", "first_token_s"), ("done", "answer_s"), ("app_first", "app_first_token_s"))
    for key, label in keys:
        per = {"rag": [], "raw": []}
        for turn in turns:
            for side, value in zip(("rag", "raw"), turn.get(key, [None, None]), strict=True):
                if value is not None and not turn["error"][0 if side == "rag" else 1]:
                    per[side].append(value)
        per["all"] = per["rag"] + per["raw"]
        out[label] = {
            side: {
                "p50": round(percentile(v, 50), 3),
                "p95": round(percentile(v, 95), 3),
                "n": len(v),
            }
            for side, v in per.items()
            if v
        }
    return out


async def close(lives: list[Live]) -> None:
    for live in lives:
        live.closing = True
        if live.context is not None:
            with contextlib.suppress(Exception):  # a browser that went away closed it already
                await live.context.close()


async def sample_memory(pid: int, peak: dict, stop: asyncio.Event) -> None:
    while not stop.is_set():
        peak["mb"] = max(peak["mb"], tree_rss_mb(pid))
        peak["load"] = max(peak["load"], os.getloadavg()[0])
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), 1.0)


async def single_session(browser: Any, url: str, questions: int, limits: Limits) -> Live:
    live = await open_and_index(browser, url, f"{limits.target}-single", limits)
    await converse(live, question_plan(0, questions), limits, random.Random(0), room=False)
    await close([live])
    return live


async def room(browser: Any, url: str, sessions: int, questions: int, limits: Limits) -> dict:
    """Open the sessions in waves (memory after each), then all of them ask at once."""
    pid = limits.process.pid
    memory: dict[str, float] = {"before_room": tree_rss_mb(pid)}
    anon: dict[str, float] = {"before_room": tree_rss_mb(pid, "RssAnon")}
    lives: list[Live] = []
    for wave in sorted({1, min(10, sessions), sessions}):
        names = [f"{limits.target}-s{i + 1:02d}" for i in range(len(lives), wave)]
        lives += await asyncio.gather(*(open_and_index(browser, url, n, limits) for n in names))
        memory[str(wave)], anon[str(wave)] = tree_rss_mb(pid), tree_rss_mb(pid, "RssAnon")
        say(f"{wave} sessions indexed, server {memory[str(wave)]} MB")
    peak, stop = {"mb": 0.0, "load": 0.0}, asyncio.Event()
    sampler = asyncio.create_task(sample_memory(pid, peak, stop))
    started = time.monotonic()
    await asyncio.gather(
        *(
            converse(live, question_plan(i + 1, questions), limits, random.Random(i + 1), room=True)
            for i, live in enumerate(lives)
        )
    )
    wall = time.monotonic() - started
    stop.set()
    await sampler
    memory["after_questions"], anon["after_questions"] = tree_rss_mb(pid), tree_rss_mb(pid, "RssAnon")
    memory["peak_while_asking"] = peak["mb"]
    await close(lives)
    return {
        "lives": lives,
        "memory": memory,
        "anon": anon,
        "asking_wall_s": round(wall, 1),
        "peak_load": peak["load"],
    }


def summarise(single: Live, lives: list[Live], questions: int, crashed: bool) -> dict:
    done = [lv for lv in lives if not lv.error and not lv.cut and len(lv.turns) == questions]
    turns = [t for lv in lives for t in lv.turns]
    columns = [(t, j) for t in turns for j in (0, 1) if t["first"][j] is not None]
    base = stats(single.turns).get("first_token_s", {})
    slow = {0: base.get("rag", {}).get("p50"), 1: base.get("raw", {}).get("p50")}
    return {
        "sessions": len(lives),
        "questions": questions,
        "completed": len(done),
        "errors": sum(1 for lv in lives if lv.error) + (1 if single.error else 0),
        "error_samples": [f"{lv.name}: {lv.error}" for lv in [single, *lives] if lv.error][:10],
        "cut_by_time_limit": sum(1 for lv in lives if lv.cut),
        "crashes": {
            "server_died": crashed,
            "websockets_lost": sum(lv.ws_lost for lv in [single, *lives]),
        },
        "index_s": {
            "p50": round(percentile([lv.index_s for lv in lives if lv.index_s], 50), 2),
            "p95": round(percentile([lv.index_s for lv in lives if lv.index_s], 95), 2),
        },
        "single": {"completed": not single.error and len(single.turns) == questions, **stats(single.turns)},
        "room": stats(turns),
        "waiting": {
            "columns": len(columns),
            "showed_waiting_message": sum(1 for t, j in columns if t["waiting"][j]),
            # first token later than 3× the single session's median, with no message on screen
            "slow_without_message": sum(
                1 for t, j in columns if slow[j] and t["first"][j] > 3 * slow[j] and not t["waiting"][j]
            ),
        },
    }


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


async def run_target(
    target: str,
    sessions: int,
    questions: int,
    stall_s: float,
    deadline: float,
    single: bool = True,
    app_dir: Path = ROOT,
) -> dict:
    """One target: its servers, then the single session and the room in one browser."""
    from contextlib import ExitStack

    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    for old in ARTIFACTS.glob(f"{target}-*.png"):
        old.unlink()
    log = ARTIFACTS / f"{target}-{time.strftime('%H%M%S')}-streamlit.log"  # concurrent runs keep theirs
    with ExitStack() as stack, tempfile.TemporaryDirectory() as deploy_dir:
        ollama = stack.enter_context(FakeOllama(ollama_state())) if target == "ollama" else None
        env = app_env(target, ollama.url if ollama else None, deploy_dir)
        url, process = stack.enter_context(app_process(env, log, timeout=180, cwd=app_dir))
        limits = Limits(process, stall_s, deadline, target)
        result = await drive(url, limits, sessions, questions, single)
        result["turns"] = {lv.name: lv.turns for lv in result.pop("lives")}  # main() files them apart
        if ollama:
            s = ollama.state
            result["ollama_server"] = {**OLLAMA_TIMING, "max_concurrent_chats": s.max_active}
    text = log.read_text(errors="replace") if log.exists() else ""
    where = log.relative_to(ROOT) if log.is_relative_to(ROOT) else log
    result["server_log"] = {"path": str(where), "tracebacks": text.count("Traceback")}
    return result


async def drive(url: str, limits: Limits, sessions: int, questions: int, single: bool) -> dict:
    from playwright.async_api import async_playwright

    process = limits.process
    started, load0 = time.monotonic(), os.getloadavg()[0]
    async with async_playwright() as p:
        browser = await p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        memory0 = tree_rss_mb(process.pid)
        alone = await single_session(browser, url, questions, limits) if single else Live("single")
        load1 = os.getloadavg()[0]  # the last minute: the single session's
        crowd = await room(browser, url, sessions, questions, limits)
        await browser.close()
    crashed = process.poll() is not None
    result = summarise(alone, crowd["lives"], questions, crashed)
    result["lives"] = [alone, *crowd["lives"]]  # the caller keeps each turn, for the record
    result.update(
        memory_mb={"server_started": memory0, **crowd["memory"]},
        anonymous_memory_mb=crowd["anon"],
        wall_s=round(time.monotonic() - started, 1),
        asking_wall_s=crowd["asking_wall_s"],
        load_average={
            "start": round(load0, 2),
            "after_single": round(load1, 2),
            "peak_while_asking": round(crowd["peak_load"], 2),
        },
        server_exit_code=process.returncode if crashed else None,
    )
    return result


def snapshot() -> Path:
    """A copy of the working tree (tracked and untracked files git does not ignore), checked importable."""
    import subprocess

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


def floors(r: dict) -> dict[str, bool]:
    """The issue's floors for one target (the first-token one only with the Ollama server)."""
    m = r["memory_mb"]
    grown = (m[str(r["sessions"])] - m["1"]) / max(r["sessions"] - 1, 1)
    checks = {
        "no_errors": r["errors"] == 0 and r["completed"] == r["sessions"] and r["single"]["completed"],
        "no_crashes": not r["crashes"]["server_died"] and r["crashes"]["websockets_lost"] == 0,
        "memory_per_session_mb": grown <= 60,
    }
    single, crowd = r["single"].get("first_token_s", {}), r["room"].get("first_token_s", {})
    if "ollama_server" in r and "all" in single and "all" in crowd:
        checks["first_token_p95"] = crowd["all"]["p95"] <= 3 * single["all"]["p95"]
    r["memory_per_extra_session_mb"] = round(grown, 1)
    return checks


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sessions", type=int, default=30)
    parser.add_argument("--questions", type=int, default=3)
    parser.add_argument("--target", choices=["ollama", "embedded", "both"], default="both")
    parser.add_argument("--time-limit", type=float, default=3000, help="seconds for the whole run")
    parser.add_argument("--stall", type=float, default=600, help="seconds without progress fail a session")
    parser.add_argument("--snapshot", action="store_true", help="serve a copy of the tree taken at the start")
    args = parser.parse_args()
    if args.sessions < 1 or args.questions < 1:
        parser.error("--sessions and --questions must be at least 1")
    if not Path(CHROMIUM).exists():
        sys.exit(f"{CHROMIUM} is missing: install Debian's chromium (./setup.sh does).")
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # so the servers and Chromium are stopped
    deadline = time.monotonic() + args.time_limit
    app_dir = snapshot() if args.snapshot else ROOT
    path = RESULTS / "load-room.json"
    data = json.loads(path.read_text()) if path.exists() else {}
    try:
        for target in ["ollama", "embedded"] if args.target == "both" else [args.target]:
            budget = deadline - time.monotonic() + 120  # the sessions stop themselves at the deadline
            run = run_target(target, args.sessions, args.questions, args.stall, deadline, app_dir=app_dir)
            result = asyncio.run(asyncio.wait_for(run, budget))
            turns = result.pop("turns")
            (ARTIFACTS / f"{target}-turns.json").write_text(json.dumps(turns, indent=1))
            result["floors"] = floors(result)
            result["tree"] = "a copy taken at the start" if args.snapshot else "the working tree"
            print(target, json.dumps(result, indent=1))
            data[target] = result
            data["machine"] = machine()
            RESULTS.mkdir(parents=True, exist_ok=True)
            path.write_text(json.dumps(data, indent=1))
    finally:
        if app_dir != ROOT:
            shutil.rmtree(app_dir, ignore_errors=True)
    print(f"written to {path}")


if __name__ == "__main__":
    main()
