"""Three sessions at once, in Chromium, against `streamlit run` and the Ollama protocol server.

The CI-sized room of bench/load_room.py, through the same driver: each session indexes
the sample guide, then asks three questions (one a follow-up) while the others do, and
every column of every session must finish with an answer: no error box, no lost
websocket, a server still running.
"""

from __future__ import annotations

import asyncio
import time

import pytest

from bench import load_room
from tests.browser.helpers import BROWSER

pytestmark = BROWSER


@pytest.mark.timeout(180)
def test_three_sessions_at_once_all_complete(monkeypatch, tmp_path):
    monkeypatch.setattr(load_room, "THINK_S", (0.2, 0.5))  # the bench reads each answer for seconds
    monkeypatch.setattr(load_room, "ARTIFACTS", tmp_path)  # the bench's own evidence stays
    deadline = time.monotonic() + 120
    result = asyncio.run(
        load_room.run_target("ollama", sessions=3, questions=3, stall_s=60, deadline=deadline, single=False)
    )
    assert result["errors"] == 0, result["error_samples"]
    assert result["cut_by_time_limit"] == 0 and result["completed"] == 3
    assert result["crashes"] == {"server_died": False, "websockets_lost": 0}
    first, answer = result["room"]["first_token_s"], result["room"]["answer_s"]
    assert first["rag"]["n"] == first["raw"]["n"] == 9  # 3 sessions × 3 questions, each column timed
    assert answer["all"]["n"] == 18 and answer["all"]["p50"] >= first["all"]["p50"] > 0
    assert result["room"]["app_first_token_s"]["all"]["n"] == 18  # each column's own timings caption
    assert result["ollama_server"]["max_concurrent_chats"] >= 3  # the sessions' answers overlapped
    assert result["server_log"]["tracebacks"] == 0
    # Times are real: no answer can beat the server's own pace (first token after 0.2 s, then
    # 0.03 s a token); a column matched to the previous turn's finished answer would.
    pace = load_room.OLLAMA_TIMING
    shortest = pace["first_token_delay"] + pace["token_delay"] * (len(load_room.OLLAMA_ANSWER.split()) - 1)
    for turns in result["turns"].values():
        for turn in turns:
            assert min(turn["first"]) >= pace["first_token_delay"], turn
            assert turn["done"][1] >= shortest, turn  # the model alone streams the whole answer
