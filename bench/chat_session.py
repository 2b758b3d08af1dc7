"""A conversation on the Chat page, in a real browser, with the embedded defaults.

    .venv/bin/python bench/chat_session.py [--turns 8]

`streamlit run` serves the app; Chromium (through Playwright) indexes the sample
guide and asks its questions one after the other in one conversation, as a
workshop does. Each turn is timed from Enter until both columns show their
timings; the columns' own captions give each side's first token. The app's
server and the browser share the cores with the model here, which an in-process
bench leaves out. Baselines, in the same run, change the embedded pool's policy
in one place (bench/variants/sitecustomize.py):
- `adaptive`: a lone answer decodes on every core;
- `no-affinity`: a follow-up gets the least recently used context, so it finds
  its conversation in the cache only by chance (the pool before).
Medians over turns 2..N (turn 1 also loads the model).
"""

from __future__ import annotations

import argparse
import os
import re
import statistics
import time

from common import ROOT, write_result

from rag.evaluation import load_questions
from tests.servers.streamlit_app import CHROMIUM, running_app

QUESTIONS = [
    q.question for q in load_questions(ROOT / "rag" / "data" / "sample-guide-qa.jsonl") if not q.history
]
FIRST_TOKEN = re.compile(r"first token ([\d.]+) s")


def session(browser, variant: str, turns: int) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("RAG_", "BENCH_"))}
    if variant != "app":
        env["BENCH_POOL_VARIANT"] = variant
        env["PYTHONPATH"] = os.pathsep.join([str(ROOT / "bench" / "variants"), str(ROOT)])
    walls: list[float] = []
    with running_app(env, timeout=120) as url:
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        page.goto(f"{url}/index")
        page.get_by_role("tab", name="Sample guide (offline)").click()
        page.get_by_role("button", name="Index the sample guide").click()
        page.get_by_text("pages ok").first.wait_for(timeout=180_000)
        page.get_by_role("link", name="Chat").first.click()
        for i, question in enumerate(QUESTIONS[:turns]):
            box = page.get_by_test_id("stChatInputTextArea")
            box.fill(question)
            started = time.perf_counter()
            box.press("Enter")
            page.locator("text=first token").nth(2 * i + 1).wait_for(timeout=180_000)
            walls.append(time.perf_counter() - started)
        captions = page.locator("text=first token").all_inner_texts()
        page.close()
    first = [float(FIRST_TOKEN.search(c).group(1)) for c in captions]
    rag_first, raw_first = first[0::2], first[1::2]
    later = slice(1, None)
    return {
        "turns": len(walls),
        "turn_s": round(statistics.median(walls[later]), 2),
        "rag_first_token_s": round(statistics.median(rag_first[later]), 2),
        "raw_first_token_s": round(statistics.median(raw_first[later]), 2),
        "walls_s": [round(w, 2) for w in walls],
    }


def main() -> None:
    from playwright.sync_api import sync_playwright

    parser = argparse.ArgumentParser()
    parser.add_argument("--turns", type=int, default=8)
    args = parser.parse_args()
    results = {}
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox", "--disable-gpu"])
        for variant in ("app", "adaptive", "no-affinity"):
            results[variant] = session(browser, variant, args.turns)
            print(variant, results[variant])
        browser.close()
    print(f"written to {write_result('chat-session', results)}")


if __name__ == "__main__":
    main()
