"""The flow that matters, in a real browser: Debian's Chromium driven by Playwright
against `streamlit run` on loopback.

Index a locally served docs page, ask a question, watch both columns stream at
the same time, follow a source link, ask a follow-up. Screenshots are written
to artifacts/ (the README's picture, with the embedded model, comes from
bench/first_answer.py).
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator

import pytest

from tests.browser.helpers import BROWSER, app_on_ollama, column_texts, finished_columns
from tests.conftest import ROOT, SAMPLE_DOCS
from tests.servers.ollama import FakeOllama, OllamaState
from tests.servers.site import SiteServer
from tests.servers.streamlit_app import running_app

ARTIFACTS = ROOT / "artifacts"
pytestmark = BROWSER
ANSWER = (
    "Cloud Run services with an NVIDIA L4 GPU need at least 4 CPUs and 16 GiB of memory; "
    "8 CPUs and 32 GiB are recommended for Gemma 2 9B."
)


def answer(messages: list[dict]) -> str:
    if "Rewrite a query" in messages[0]["content"]:
        return "Cloud Run GPU billing instance lifetime"
    return ANSWER


@pytest.fixture(scope="module")
def ollama() -> Iterator[FakeOllama]:
    with FakeOllama(OllamaState(answer=answer, token_delay=0.12)) as server:
        yield server


@pytest.fixture(scope="module")
def docs() -> Iterator[SiteServer]:
    with SiteServer(SAMPLE_DOCS) as server:
        yield server


@pytest.fixture(scope="module")
def app_url(ollama, tmp_path_factory) -> Iterator[str]:
    with app_on_ollama(ollama.url, tmp_path_factory, RAG_HISTORY_MODE="rewrite") as url:
        yield url


def shot(page, name: str) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)


def test_index_ask_stream_follow_source_and_follow_up(app_url, docs, browser, ollama):
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    page.goto(app_url)
    page.get_by_text("No index yet").wait_for(timeout=60_000)

    # Index a locally served docs page.
    page.get_by_role("link", name="Index").first.click()
    page.get_by_role("heading", name="Index").wait_for()
    page.get_by_label("URLs, one per line").fill(f"{docs.url}/cloud-run-gpu.html\n{docs.url}/ollama.html")
    page.get_by_role("button", name="Index these pages").click()
    page.get_by_text("2 pages ok, 0 failed").first.wait_for(timeout=120_000)
    shot(page, "index")

    # Ask: both columns must show partial text at the same moment.
    page.get_by_role("link", name="Chat").first.click()
    box = page.get_by_test_id("stChatInputTextArea")
    box.wait_for()
    box.fill("How much memory does an L4 GPU service need?")
    box.press("Enter")
    both_partial = False
    deadline = time.time() + 30
    while time.time() < deadline:
        texts = column_texts(page)
        if len(texts) == 2 and all("▌" in t for t in texts):
            both_partial = True
            shot(page, "streaming")
            break
        time.sleep(0.05)
    assert both_partial, "the two columns never streamed at the same time"
    page.get_by_text("Sources (4)").wait_for(timeout=30_000)
    assert ollama.state.max_active == 2
    left, right = finished_columns(page, ANSWER)
    shot(page, "chat")
    assert ANSWER in left and ANSWER in right and "first token" in left

    # Follow a source link: it opens the served page at the chunk's anchor.
    page.get_by_text("Sources (4)").first.click()
    link = page.locator('[data-testid="stExpander"] a').first
    href = link.get_attribute("href")
    assert href.startswith(docs.url) and "#" in href
    with page.context.expect_page() as opened:
        link.click()
    doc = opened.value
    doc.wait_for_load_state()
    assert doc.url == href and "Workshop guide" in doc.title()
    doc.close()

    # A follow-up: the model rewrites it, and the searched query is shown.
    box.fill("And is it billed while idle?")
    box.press("Enter")
    page.get_by_text("Searched for: Cloud Run GPU billing instance lifetime").first.wait_for(timeout=30_000)
    page.get_by_text("Sources (4)").nth(1).wait_for(timeout=30_000)
    shot(page, "follow-up")
    page.close()


def test_a_direct_link_to_a_page_gets_the_apps_navigation(browser, tmp_path):
    """The first visitor of a fresh server opens /index directly (a bookmark, a reconnect)."""
    env = {**os.environ, "DEPLOY_STATE_DIR": str(tmp_path / "deploy")}
    with running_app(env, tmp_path / "streamlit.log") as url:
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        page.goto(f"{url}/index")
        page.get_by_role("heading", name="Index").wait_for(timeout=60_000)
        nav = page.get_by_test_id("stSidebarNav")
        nav.get_by_text("Chat", exact=True).wait_for(timeout=30_000)
        assert "streamlit app" not in nav.inner_text()  # the legacy menu of the pages/ folder
        page.close()


def test_going_to_chat_the_moment_the_build_says_done_finds_the_index(app_url, browser):
    """A participant clicks Chat as soon as the page says the pages are ok. That click ends
    the Index page's script run at its next message, so the index must already be kept:
    it was kept after the message once, and a room's first question found no index."""
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    page.goto(f"{app_url}/index")
    page.get_by_role("tab", name="Sample guide (offline)").click(timeout=60_000)
    page.get_by_role("button", name="Index the sample guide").click()
    page.wait_for_function("() => document.body.textContent.includes('pages ok')", timeout=120_000)
    page.get_by_role("link", name="Chat").first.click()
    box = page.get_by_test_id("stChatInputTextArea")
    box.wait_for()
    box.fill("How much memory does an L4 GPU service need?")
    box.press("Enter")
    page.get_by_text("Sources (4)").wait_for(timeout=30_000)
    finished_columns(page, ANSWER)
    assert "No index yet" not in page.inner_text("body")
    page.close()
