"""What a room sees, in Chromium against `streamlit run` (issue 10).

The server starts on the leader's index (RAG_INDEX: the sample guide, prepared
once), answers come from the protocol-faithful Ollama server streaming slowly
enough to press Stop in the middle, and the window is 1024 px wide, a
projector's width. Screenshots go to artifacts/room-*.png.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.browser.helpers import BROWSER, app_on_ollama, column_texts
from tests.conftest import ROOT, SAMPLE_DOCS
from tests.servers.ollama import FakeOllama, OllamaState
from tests.servers.site import SiteServer

ARTIFACTS = ROOT / "artifacts"
pytestmark = BROWSER
ANSWER = (
    "Cloud Run services with an NVIDIA L4 GPU need at least 4 CPUs and 16 GiB of memory; "
    "8 CPUs and 32 GiB are recommended for Gemma 2 9B, and the service scales to zero when idle."
)


@pytest.fixture(scope="module")
def ollama() -> Iterator[FakeOllama]:
    with FakeOllama(OllamaState(answer=lambda messages: ANSWER, token_delay=0.8)) as server:
        yield server


@pytest.fixture(scope="module")
def leader_index(tmp_path_factory) -> Path:
    from rag.embeddings import CachedEmbeddings
    from rag.embeddings.local import LocalEmbeddings
    from rag.indexing import build_index
    from rag.loading.fetch import FetchConfig
    from rag.loading.loader import WebLoader
    from rag.splitting import get_splitter

    embedder = "local:all-MiniLM-L6-v2"
    with SiteServer(SAMPLE_DOCS) as site:
        store, _ = build_index(
            WebLoader(FetchConfig()),
            CachedEmbeddings(LocalEmbeddings(), embedder),
            embedder,
            crawl=f"{site.url}/index.html",
            max_pages=20,
            splitter=("sections", get_splitter("sections")),
        )
    return store.save(tmp_path_factory.mktemp("leader") / "guide.ragidx")


@pytest.fixture(scope="module")
def app_url(ollama, leader_index, tmp_path_factory) -> Iterator[str]:
    with app_on_ollama(ollama.url, tmp_path_factory, RAG_INDEX=str(leader_index)) as url:
        yield url


def shot(page, name: str) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"room-{name}.png"), full_page=True)


def ask(page, question: str) -> None:
    box = page.get_by_test_id("stChatInputTextArea")
    box.wait_for(timeout=180_000)
    box.fill(question)
    box.press("Enter")


def clipped(locator) -> bool:
    """True when the element's text does not fit in its box (cut off or ellipsised)."""
    return locator.evaluate(
        "e => e.scrollWidth > e.clientWidth + 1 || e.getBoundingClientRect().right > innerWidth"
    )


def test_stop_keeps_the_partial_answers_on_screen_at_once(app_url, browser):
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    page.goto(app_url)
    # the first session loads the embedder and the index: slow on a busy machine
    page.get_by_text("Answering from the leader's index").wait_for(timeout=180_000)
    ask(page, "How much memory does an L4 GPU service need?")
    deadline = time.time() + 60
    while time.time() < deadline:
        texts = column_texts(page)
        if len(texts) == 2 and all("▌" in t and "4 CPUs" in t for t in texts):
            break
        time.sleep(0.05)
    else:
        pytest.fail("the two columns never streamed")
    page.get_by_test_id("stMainBlockContainer").get_by_role("button", name="Stop").click()
    main = page.get_by_test_id("stMainBlockContainer")
    deadline = time.time() + 15  # well before the answers would have finished (0.8 s a word, 40 words)
    while time.time() < deadline:  # the next run draws the turn; the streaming elements then go
        body = main.inner_text()
        if body.count("Stopped.") == 2 and "▌" not in body:
            break
        time.sleep(0.2)
    else:
        pytest.fail(f"the stopped turn was not redrawn: {main.inner_text()!r}")
    left, right = column_texts(page)
    shot(page, "stopped")
    for column in (left, right):
        assert "Cloud Run services with an NVIDIA L4 GPU" in column, column
        assert "No answer." not in column and column.count("Stopped.") == 1, column
        assert "scales to zero" not in column  # partial: what streamed before Stop
    assert "Sources (4)" in left
    page.close()


def test_at_1024_px_nothing_is_cut_off_and_sources_differ(app_url, browser):
    page = browser.new_page(viewport={"width": 1024, "height": 900})
    page.goto(app_url)
    ask(page, "How much memory does a Cloud Run service with an L4 GPU need?")
    page.get_by_text("Sources (4)").first.wait_for(timeout=120_000)
    page.get_by_text("Sources (4)").first.click()
    clear = page.get_by_role("button", name="Clear chat")
    assert clear.is_enabled()  # enabled by the first answer, without another redraw
    assert not clipped(clear.locator("p").first)
    titles = page.locator('[data-testid="stExpander"] a').all_inner_texts()
    assert len(titles) == 4 and len(set(titles)) > 1, titles  # the section heading tells them apart
    assert page.get_by_test_id("stAppDeployButton").count() == 0  # Streamlit's own Deploy button
    shot(page, "chat-1024")
    page.get_by_role("link", name="Index").first.click()
    page.get_by_text("This session's index").wait_for(timeout=30_000)
    page.get_by_text("The leader's index").first.wait_for()
    page.get_by_test_id("stMetricValue").first.wait_for(timeout=30_000)
    time.sleep(1)  # the page's last elements settle
    for metric in page.get_by_test_id("stMetricValue").all():
        assert not clipped(metric.locator("div").first), metric.inner_text()
    shot(page, "index-1024")
    page.close()
