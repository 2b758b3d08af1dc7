"""bench/streamlit_client.py against the real `streamlit run`, answering from the Ollama protocol server.

One session over Streamlit's websocket: index the sample guide, go to Chat, ask; the answer
must arrive in both columns, timed from the deltas. Then the server breaks mid-answer and the
error box the page shows must be read as an error, not as an answer.
"""

from __future__ import annotations

import asyncio
import time

import pytest

from bench import streamlit_client as client
from tests.browser.helpers import app_on_ollama
from tests.servers.ollama import FakeOllama

ANSWER = "Cloud Run runs containers."  # tests/servers/ollama.py's default answer


def patient(quiet: float) -> None:
    if quiet > 120:
        raise AssertionError(f"the page said nothing for {quiet:.0f} s")


async def two_turns(url: str, ollama: FakeOllama) -> tuple[float, dict, dict, str]:
    session = client.Session(url)
    try:
        await session.connect("index")
        indexed = await client.index_sample_guide(session, patient)
        await client.open_chat(session, patient)
        good = await client.ask(session, "How much memory does an L4 GPU need?", 0, patient)
        await session.wait(lambda: session.idle, 60)
        ollama.state.error_after_tokens = 1  # the next answers break after their first token
        bad = await client.ask(session, "And how many CPUs?", 1, patient)
        return indexed, good, bad, session.closed or ""
    finally:
        await session.close()


@pytest.mark.slow
@pytest.mark.timeout(300)
def test_a_session_over_the_protocol_indexes_asks_and_sees_errors(ollama, tmp_path_factory):
    with app_on_ollama(ollama.url, tmp_path_factory, STREAMLIT_SERVER_FILE_WATCHER_TYPE="none") as url:
        indexed, good, bad, closed = asyncio.run(two_turns(url, ollama))
    assert indexed > 0 and not closed
    assert good["error"] == [None, None] and good["pageError"] is None, good
    for side in (0, 1):  # RAG, then the model alone
        assert ANSWER in good["text"][side], good
        assert 0 < good["first"][side] <= good["done"][side], good
        assert "total" in good["caption"][side], good
    assert "RAG" in good["text"][0] and "Model only" in good["text"][1]  # the columns told apart
    assert any(r.path == "/api/chat" for r in ollama.state.requests)
    # The broken answers: error boxes in the columns, recorded as errors with their text.
    assert bad["pageError"] is None and all(bad["error"]), bad
    assert all(d is not None for d in bad["done"]) and not any(c for c in bad["caption"]), bad


@pytest.mark.slow
@pytest.mark.timeout(300)
def test_the_room_bench_drives_its_sessions_over_the_protocol(monkeypatch, tmp_path):
    from bench import load_room

    monkeypatch.setattr(load_room, "THINK_S", (0.2, 0.5))  # the bench reads each answer for seconds
    monkeypatch.setattr(load_room, "ARTIFACTS", tmp_path)
    deadline = time.monotonic() + 200
    run = load_room.run_target(
        "ollama", sessions=2, questions=2, stall_s=60, deadline=deadline, single=False, client="protocol"
    )
    result = asyncio.run(run)
    assert result["client"] == "protocol" and result["errors"] == 0, result["error_samples"]
    assert result["completed"] == 2 and result["crashes"] == {"server_died": False, "websockets_lost": 0}
    first, app_first = result["room"]["first_token_s"], result["room"]["app_first_token_s"]
    assert first["rag"]["n"] == first["raw"]["n"] == 4 and app_first["all"]["n"] == 8
    pace = load_room.OLLAMA_TIMING["first_token_delay"]
    for turns in result["turns"].values():
        for turn in turns:  # no column can beat the server's pace, nor the app's own clock
            assert min(turn["first"]) >= pace, turn
            pairs = zip(turn["first"], turn["app_first"], strict=True)
            assert all(f >= a - 0.01 for f, a in pairs), turn  # the caption rounds to 0.01 s
    assert (tmp_path / "ollama-s01-done.txt").read_text().count("total") >= 4  # 2 turns × 2 columns
