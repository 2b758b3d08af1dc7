"""The room bench's browser client (bench/load_room.py `--client browser`): one headless Chromium.

Debian's Chromium through Playwright, one browser context per session. A script
installed in every page before the app's own (PROBE) stamps, with the page's clock,
the Enter key in the chat box, the first streamed text in each answer column and
the column's finished answer (its timings caption), or an error box. The steps are
those of bench/streamlit_client.py, and take the same `check` callback: it is given
how long the page has been quiet and raises to give up (a dead server, a stall, the
deadline).
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import AsyncIterator, Callable
from typing import Any

from bench.streamlit_client import Check
from tests.servers.streamlit_app import CHROMIUM

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


async def wait_js(page: Any, predicate: str, check: Check) -> Any:
    """Wait for a JS predicate, calling `check` every 15 s with how long the page has been quiet."""
    from playwright.async_api import TimeoutError as PlaywrightTimeout

    while True:
        try:
            handle = await page.wait_for_function(predicate, polling=250, timeout=15_000)
            return await handle.json_value()
        except PlaywrightTimeout:
            check(await page.evaluate("(performance.now() - window.__room.lastChange) / 1000"))


@contextlib.asynccontextmanager
async def chromium() -> AsyncIterator[Any]:
    """One headless Chromium for all the sessions."""
    from playwright.async_api import async_playwright

    async with async_playwright() as p:
        browser = await p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            await browser.close()


async def new_context(browser: Any) -> Any:
    """A session's browser context, its pages timed by PROBE."""
    context = await browser.new_context(viewport={"width": 1280, "height": 900})
    context.set_default_timeout(180_000)
    await context.add_init_script(PROBE)
    return context


async def new_page(context: Any, on_lost: Callable[[], None]) -> Any:
    """The session's page; `on_lost` is called when a websocket of its closes."""
    page = await context.new_page()
    page.on("websocket", lambda ws: ws.on("close", lambda _: on_lost()))
    return page


async def index_sample_guide(page: Any, url: str, check: Check) -> float:
    """Open the Index page, press Index the sample guide; the seconds until the page says pages ok."""
    await page.goto(f"{url}/index")
    await page.get_by_role("tab", name="Sample guide (offline)").click()
    started = time.monotonic()
    await page.get_by_role("button", name="Index the sample guide").click()
    outcome = await wait_js(page, INDEXED, check)
    if outcome != "ok":
        raise RuntimeError("indexing the sample guide failed on the page")
    return time.monotonic() - started


async def open_chat(page: Any) -> None:
    await page.get_by_role("link", name="Chat").first.click()
    await page.get_by_test_id("stChatInputTextArea").wait_for()


async def ask(page: Any, question: str, check: Check) -> dict:
    """Type the question into the chat input and press Enter; wait for both columns."""
    box = page.get_by_test_id("stChatInputTextArea")
    await box.fill(question)
    await box.press("Enter")
    await wait_js(page, "() => window.__room.settled()", check)
    return await page.evaluate("window.__room.result()")
