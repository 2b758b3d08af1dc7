"""A room at once: N concurrent sessions on Streamlit's websocket against `streamlit run`.

    nice -n 10 .venv/bin/python bench/load_room.py [--sessions 30] [--questions 3]
        [--target ollama|embedded|both] [--client protocol|browser] [--time-limit 3000]
        [--stall 600] [--out bench/results/load-room.json]

Each session is a participant: it opens the app, builds the sample-guide index on
the Index page (the shared embedding cache makes every build after the first
cheap), then asks its questions on the Chat page, one of them a follow-up, and
waits for both columns (RAG and the model alone) to finish. `--client protocol`
(the default) speaks Streamlit's websocket protocol from this process, one
connection per session, as the frontend does (bench/streamlit_client.py): the
sessions cost the 2 cores little, so the numbers are the server's.
`--client browser` drives one headless Chromium (Debian's, through Playwright),
one browser context per session, whose pages take much of the CPU themselves
(bench/room_browser.py). The server's side and the summing up are in
bench/room_server.py and bench/room_results.py.

Per target, in one run of one server:
1. a single session alone: the single-session figures;
2. the room's sessions open and index in waves (1, then up to 10, then all), the
   server's memory read after each wave (RSS of the streamlit process and its
   children, from /proc);
3. all of them ask their first question within two seconds of each other, and
   their next ones after a few seconds of reading.
Times are taken by the client: from submitting the question to the first streamed
text in each column and to the column's finished answer (its timings caption), or
an error box; in the browser a MutationObserver stamps them with the page's clock,
over the protocol they are stamped as the deltas arrive.

Targets: `ollama`, the protocol-faithful Ollama server (tests/servers/ollama.py)
decoding every request in parallel, the app pointed at it with RAG_LLM=ollama:URL;
`embedded`, the app's defaults (Gemma 3 270M in-process, two llama.cpp contexts),
where questions queue for a context: a column that waits should say so ("waiting
for the model"), and is recorded as an error only when nothing on its page has
changed for `--stall` seconds. Sessions still running at `--time-limit` are
recorded as cut, never as completed. Results: bench/results/load-room.json, or
`--out` (a run of one target keeps the other's entry); evidence of failures
(screenshots, or the page's text over the protocol; the server's log) under
artifacts/load-room/, or beside `--out`.
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

from bench import room_browser, streamlit_client
from bench.common import RESULTS, ROOT, machine
from bench.room_results import floors, summarise
from bench.room_server import OLLAMA_ANSWER as OLLAMA_ANSWER  # the tests read them here
from bench.room_server import OLLAMA_TIMING, app_env, ollama_state, sample_memory, snapshot, tree_rss_mb
from rag.evaluation import load_questions
from tests.servers.ollama import FakeOllama
from tests.servers.streamlit_app import CHROMIUM, app_process

ARTIFACTS = ROOT / "artifacts" / "load-room"
SCREENSHOTS = 6  # at most this many per target
APP_FIRST_TOKEN = re.compile(r"first token ([\d.]+) s")  # the column's own timings caption
START_S, THINK_S = 2.0, (1.0, 4.0)  # a room's first questions come within START_S; then it reads


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
    client: str = "browser"  # or "protocol": bench/streamlit_client.py


@dataclass
class Live:
    """One session: its browser context and page, or its protocol session, and what happened to it."""

    name: str
    context: Any = None
    page: Any = None  # a Playwright page, or a streamlit_client.Session
    index_s: float | None = None
    turns: list[dict] = field(default_factory=list)
    error: str | None = None
    cut: bool = False
    ws_lost: int = 0
    closing: bool = False


def question_plan(session: int, count: int) -> list[str]:
    """A question and its follow-up, then a standalone question; more standalone ones past 3."""
    items = load_questions(ROOT / "rag" / "data" / "sample-guide-qa.jsonl")
    alone = [q.question for q in items if not q.history]
    chains = [(q.history[0]["content"], q.question) for q in items if q.history]
    first, follow = chains[session % len(chains)]
    plan = [first, follow, alone[session % len(alone)]]
    plan += [alone[(session + k) % len(alone)] for k in range(1, max(count - 2, 1))]
    return plan[:count]


def guard(limits: Limits, what: str) -> streamlit_client.Check:
    """When a wait gives up: a dead server, a page quiet for `stall_s`, the deadline (cut, not failed)."""

    def check(quiet: float) -> None:
        if limits.process.poll() is not None:
            raise Crash(f"the streamlit process exited ({limits.process.returncode}) while {what}")
        if quiet > limits.stall_s:
            raise RuntimeError(f"no progress for {quiet:.0f} s while {what}")
        if time.monotonic() > limits.deadline:
            raise TimeLimit(what)

    return check


async def open_and_index(browser: Any, url: str, name: str, limits: Limits) -> Live:
    """Open /index, press Index the sample guide, go to Chat: in the browser or over the protocol."""
    live, indexing = Live(name), "indexing the sample guide"
    try:
        if limits.client == "protocol":
            live.page = session = streamlit_client.Session(url, on_lost=lambda: _lost(live))
            await session.connect("index")
            took = await streamlit_client.index_sample_guide(session, guard(limits, indexing))
            live.index_s = round(took, 2)
            await streamlit_client.open_chat(session, guard(limits, "opening the Chat page"))
        else:
            live.context = await room_browser.new_context(browser)
            live.page = await room_browser.new_page(live.context, on_lost=lambda: _lost(live))
            took = await room_browser.index_sample_guide(live.page, url, guard(limits, indexing))
            live.index_s = round(took, 2)
            await room_browser.open_chat(live.page)
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
    shots = [p for p in ARTIFACTS.glob(f"{live.name.split('-')[0]}-*") if p.suffix in (".png", ".txt")]
    if live.page is not None and len(shots) < SCREENSHOTS:
        with contextlib.suppress(Exception):  # a dead page has no picture: the error text stands
            await evidence(live, f"{live.name}-{step}")


async def evidence(live: Live, stem: str) -> None:
    """What the session's page shows: a screenshot, or over the protocol its text."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    if isinstance(live.page, streamlit_client.Session):
        (ARTIFACTS / f"{stem}.txt").write_text(live.page.text())
    else:
        await live.page.screenshot(path=str(ARTIFACTS / f"{stem}.png"), full_page=True)


async def ask(live: Live, question: str, limits: Limits) -> dict:
    what = f"answering {question!r}"
    if isinstance(live.page, streamlit_client.Session):
        turn = await streamlit_client.ask(live.page, question, len(live.turns), guard(limits, what))
    else:
        turn = await room_browser.ask(live.page, question, guard(limits, what))
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
            await evidence(live, f"{live.name}-done")
    except Exception as error:
        await _failed(live, error, f"turn{len(live.turns) + 1}")


async def close(lives: list[Live]) -> None:
    for live in lives:
        live.closing = True
        if isinstance(live.page, streamlit_client.Session):
            await live.page.close()
        if live.context is not None:
            with contextlib.suppress(Exception):  # a browser that went away closed it already
                await live.context.close()


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


async def run_target(
    target: str,
    sessions: int,
    questions: int,
    stall_s: float,
    deadline: float,
    single: bool = True,
    app_dir: Path = ROOT,
    client: str = "browser",
) -> dict:
    """One target: its servers, then the single session and the room, in one browser or over
    the protocol (`client`)."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    for old in ARTIFACTS.glob(f"{target}-*"):
        if old.suffix in (".png", ".txt"):  # the last run's pictures of its pages
            old.unlink()
    log = ARTIFACTS / f"{target}-{time.strftime('%H%M%S')}-streamlit.log"  # concurrent runs keep theirs
    with contextlib.ExitStack() as stack, tempfile.TemporaryDirectory() as deploy_dir:
        ollama = stack.enter_context(FakeOllama(ollama_state())) if target == "ollama" else None
        env = app_env(target, ollama.url if ollama else None, deploy_dir)
        url, process = stack.enter_context(app_process(env, log, timeout=180, cwd=app_dir))
        limits = Limits(process, stall_s, deadline, target, client)
        result = await drive(url, limits, sessions, questions, single)
        result["turns"] = {lv.name: lv.turns for lv in result.pop("lives")}  # main() files them apart
        if ollama:
            result["ollama_server"] = {**OLLAMA_TIMING, "max_concurrent_chats": ollama.state.max_active}
    text = log.read_text(errors="replace") if log.exists() else ""
    where = log.relative_to(ROOT) if log.is_relative_to(ROOT) else log
    result["server_log"] = {"path": str(where), "tracebacks": text.count("Traceback")}
    return result


async def drive(url: str, limits: Limits, sessions: int, questions: int, single: bool) -> dict:
    process = limits.process
    started, load0, cpu0 = time.monotonic(), os.getloadavg()[0], time.process_time()
    browser_or_none = room_browser.chromium() if limits.client == "browser" else contextlib.nullcontext()
    async with browser_or_none as browser:
        memory0 = tree_rss_mb(process.pid)
        alone = await single_session(browser, url, questions, limits) if single else Live("single")
        load1 = os.getloadavg()[0]  # the last minute: the single session's
        crowd = await room(browser, url, sessions, questions, limits)
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
        client=limits.client,
        # this process's CPU time: the protocol sessions' own cost (Chromium's is not in it)
        bench_process_cpu_s=round(time.process_time() - cpu0, 1),
    )
    return result


def arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sessions", type=int, default=30)
    parser.add_argument("--questions", type=int, default=3)
    parser.add_argument("--target", choices=["ollama", "embedded", "both"], default="both")
    parser.add_argument(
        "--client",
        choices=["protocol", "browser"],
        default="protocol",
        help="Streamlit's websocket protocol from this process (bench/streamlit_client.py), or Chromium",
    )
    parser.add_argument("--time-limit", type=float, default=3000, help="seconds for the whole run")
    parser.add_argument("--stall", type=float, default=600, help="seconds without progress fail a session")
    parser.add_argument("--snapshot", action="store_true", help="serve a copy of the tree taken at the start")
    parser.add_argument(
        "--out",
        type=Path,
        default=RESULTS / "load-room.json",
        help="the result file; other than the default, the evidence goes to a folder beside it",
    )
    args = parser.parse_args()
    if args.sessions < 1 or args.questions < 1:
        parser.error("--sessions and --questions must be at least 1")
    if args.client == "browser" and not Path(CHROMIUM).exists():
        sys.exit(f"{CHROMIUM} is missing: install Debian's chromium (./setup.sh does).")
    return args


def main() -> None:
    global ARTIFACTS
    args = arguments()
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # so the servers and Chromium are stopped
    deadline = time.monotonic() + args.time_limit
    path = args.out.resolve()
    if path != RESULTS / "load-room.json":  # a trial run leaves the real run's evidence alone
        ARTIFACTS = path.with_name(f"{path.stem}-artifacts")
    app_dir = snapshot() if args.snapshot else ROOT
    data = json.loads(path.read_text()) if path.exists() else {}
    try:
        for target in ["ollama", "embedded"] if args.target == "both" else [args.target]:
            budget = deadline - time.monotonic() + 120  # the sessions stop themselves at the deadline
            size = (args.sessions, args.questions, args.stall, deadline)
            run = run_target(target, *size, app_dir=app_dir, client=args.client)
            result = asyncio.run(asyncio.wait_for(run, budget))
            turns = result.pop("turns")
            (ARTIFACTS / f"{target}-turns.json").write_text(json.dumps(turns, indent=1))
            result["floors"] = floors(result)
            result["tree"] = "a copy taken at the start" if args.snapshot else "the working tree"
            print(target, json.dumps(result, indent=1))
            data[target] = result
            data["machine"] = machine()
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(json.dumps(data, indent=1))
    finally:
        if app_dir != ROOT:
            shutil.rmtree(app_dir, ignore_errors=True)
    print(f"written to {path}")


if __name__ == "__main__":
    main()
