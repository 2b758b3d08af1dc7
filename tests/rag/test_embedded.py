"""The packaged Gemma 3 270M through llama.cpp, for real."""

import itertools
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
    tokens: dict[int, list[float]] = {0: [], 1: []}
    start = threading.Barrier(2)

    def generate(side: int) -> None:
        start.wait()
        for item in embedded_target.stream(
            [HumanMessage("What is Python? Explain in detail.")],
            options=GenerationOptions(max_tokens=24, temperature=0.0),
        ):
            if isinstance(item, Delta):
                tokens[side].append(time.perf_counter())

    threads = [threading.Thread(target=generate, args=(side,)) for side in (0, 1)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    a, b = tokens[0], tokens[1]
    assert len(a) > 3 and len(b) > 3
    # Interleaved, not one after the other: each produced tokens while the other was producing.
    assert a[0] < b[-1] and b[0] < a[-1]
    assert sum(b[0] < t < b[-1] for t in a) >= 2 and sum(a[0] < t < a[-1] for t in b) >= 2
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


def test_the_prompt_gate_reads_prompts_alone_and_lets_decoding_share():
    from rag.llms.embedded import PromptGate

    gate = PromptGate()
    log: list[str] = []
    in_step = threading.Event()

    def decoder(name: str, steps: int) -> None:
        for _ in range(steps):
            with gate.decode_step():
                log.append(f"{name}+")
                in_step.set()
                time.sleep(0.01)
                log.append(f"{name}-")

    def reader() -> None:
        in_step.wait()
        with gate.prompt():
            log.append("P+")
            time.sleep(0.05)
            log.append("P-")

    threads = [threading.Thread(target=decoder, args=(n, 8)) for n in "ab"]
    threads.append(threading.Thread(target=reader))
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    start, end = log.index("P+"), log.index("P-")
    assert end == start + 1  # nothing decoded while the prompt was read
    open_steps = sum(1 if e.endswith("+") else -1 for e in log[:start])
    assert open_steps == 0  # the prompt waited for the steps in flight
    # Decoding steps of the two contexts overlapped (shared the cores) outside the prompt.
    assert any(x.endswith("+") and y.endswith("+") for x, y in itertools.pairwise(log))
