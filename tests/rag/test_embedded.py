"""The packaged Gemma 3 270M through llama.cpp, for real."""

import threading
import time

import pytest
from langchain_core.messages import HumanMessage, SystemMessage

from rag.llms.base import Delta, Finish, GenerationOptions
from rag.prompts import ANSWER_PROMPT, RAW_PROMPT, render_completion

pytestmark = pytest.mark.slow


def test_streams_tokens_then_a_finish_with_counts(embedded_target):
    items = list(
        embedded_target.stream([HumanMessage("Name a colour.")], options=GenerationOptions(max_tokens=12))
    )
    deltas = [i for i in items if isinstance(i, Delta)]
    finish = items[-1]
    assert deltas and isinstance(finish, Finish)
    assert 0 < finish.output_tokens <= 12 and finish.prompt_tokens > 3
    assert finish.done_reason in ("stop", "length") and finish.model == "gemma-3-270m"


def test_is_a_langchain_chat_model(embedded_target):
    message = embedded_target.chat_model(options=GenerationOptions(max_tokens=8)).invoke("Say hello.")
    assert isinstance(message.content, str) and message.usage_metadata["output_tokens"] > 0


def test_two_generations_run_at_once_on_two_contexts(embedded_target):
    pool = embedded_target.pool()
    pool.warm()
    spans = []

    def generate():
        start = time.perf_counter()
        list(
            embedded_target.stream(
                [HumanMessage("Count from one to twenty.")],
                options=GenerationOptions(max_tokens=24, temperature=0.0),
            )
        )
        spans.append((start, time.perf_counter()))

    threads = [threading.Thread(target=generate) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    (_a0, a1), (b0, _b1) = sorted(spans)
    assert b0 < a1  # the second started before the first finished: they overlapped
    assert pool._created == pool.size == 2


def test_the_base_model_prompt_layout_puts_context_before_the_question():
    messages = ANSWER_PROMPT.format_messages(
        context="[1] Guide\nL4 needs 16 GiB.", messages=[HumanMessage("Memory?")]
    )
    prompt, stops = render_completion(messages)
    assert prompt.index("Context:\n[1] Guide") < prompt.index("Question: Memory?")
    assert prompt.endswith('Answer (copied from the context): "') and stops == ['"', "\n\n"]
    raw, raw_stops = render_completion(RAW_PROMPT.format_messages(messages=[HumanMessage("Hi")]))
    assert raw == "Question: Hi\nAnswer:" and raw_stops == []
    assert render_completion([SystemMessage("Be brief."), HumanMessage("Hi")])[0].startswith("Be brief.")
