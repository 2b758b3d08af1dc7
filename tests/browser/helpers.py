"""What the browser tests share: the app on a protocol-faithful Ollama, and reading its columns."""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.servers.streamlit_app import CHROMIUM, running_app

# Every browser test: marked, and skipped where Debian's chromium is missing.
BROWSER = [
    pytest.mark.browser,
    pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="Debian's chromium is not installed (./setup.sh)"),
]


@contextlib.contextmanager
def app_on_ollama(ollama_url: str, tmp_path_factory, **env: str) -> Iterator[str]:
    """`streamlit run` answering with the Ollama server at `ollama_url` (gemma2:9b)."""
    full = {
        **os.environ,
        "RAG_LLM": f"ollama:{ollama_url}",
        "RAG_MODEL": "gemma2:9b",
        "DEPLOY_STATE_DIR": str(tmp_path_factory.mktemp("deploy")),
        **env,
    }
    with running_app(full, tmp_path_factory.mktemp("log") / "streamlit.log") as url:
        yield url


def column_texts(page) -> list[str]:
    """The text of the two answer columns of the last turn."""
    columns = page.locator('[data-testid="stColumn"]')
    count = columns.count()
    return [columns.nth(i).inner_text() for i in range(max(0, count - 2), count)]


def finished_columns(page, answer: str, timeout: float = 30.0) -> list[str]:
    """The two columns once both show `answer` and neither is streaming: one may finish
    seconds after the other, and the run that redraws the turn empties a column for a moment."""
    deadline = time.time() + timeout
    texts = column_texts(page)
    while time.time() < deadline:
        if len(texts) == 2 and all(answer in t and "▌" not in t for t in texts):
            return texts
        time.sleep(0.1)
        texts = column_texts(page)
    pytest.fail(f"the columns did not finish streaming in {timeout:.0f} s: {texts!r}")
