"""From `streamlit run` to the first side-by-side answer, with the embedded defaults.

    .venv/bin/python bench/first_answer.py

A real browser (Debian's Chromium through Playwright) opens the app, indexes one
locally served page on the Index page, asks a question on the Chat page and
waits until both columns have answered. The clock starts before `streamlit run`
is launched (floor: under 60 s on 2 cores). Nothing is warmed up beforehand
except the operating system's file cache.
"""

from __future__ import annotations

import os
import time

from common import ROOT, write_result

from tests.servers.site import SiteServer
from tests.servers.streamlit_app import CHROMIUM, running_app


def main() -> None:
    from playwright.sync_api import sync_playwright

    env = {k: v for k, v in os.environ.items() if not k.startswith("RAG_")}
    marks: dict[str, float] = {}
    with SiteServer(ROOT / "sample_docs") as docs, sync_playwright() as p:
        browser = p.chromium.launch(
            executable_path=CHROMIUM,
            args=[
                "--no-sandbox",
                "--disable-gpu",
                "--disable-background-networking",
                "--disable-component-update",
            ],
        )
        t0 = time.perf_counter()
        with running_app(env, timeout=120) as url:
            marks["server_up"] = time.perf_counter() - t0
            page = browser.new_page(viewport={"width": 1400, "height": 1000})
            page.goto(f"{url}/index")
            page.get_by_label("URLs, one per line").fill(f"{docs.url}/cloud-run-gpu.html")
            page.get_by_role("button", name="Index these pages").click()
            page.get_by_text("1 pages ok, 0 failed").first.wait_for(timeout=120_000)
            marks["indexed"] = time.perf_counter() - t0
            page.get_by_role("link", name="Chat").first.click()
            box = page.get_by_test_id("stChatInputTextArea")
            box.fill("How much memory does a Cloud Run service with an L4 GPU need?")
            box.press("Enter")
            page.get_by_text("Sources (").first.wait_for(timeout=120_000)
            page.locator("text=first token").nth(1).wait_for(timeout=120_000)  # both columns have finished
            marks["first_answer"] = time.perf_counter() - t0
            page.screenshot(path=str(ROOT / "docs" / "images" / "chat-embedded.png"), full_page=False)
        browser.close()
    data = {k: round(v, 1) for k, v in marks.items()}
    print(data)
    print(f"written to {write_result('first-answer', data)}")


if __name__ == "__main__":
    main()
