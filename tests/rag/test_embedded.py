"""The packaged Gemma 3 270M through llama.cpp, for real."""

import itertools
import os
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


class _Held:
    """Records the cores held by the gate's calls in flight."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.now = 0
        self.most = 0

    def enter(self, n: int) -> None:
        with self.lock:
            self.now += n
            self.most = max(self.most, self.now)

    def leave(self, n: int) -> None:
        with self.lock:
            self.now -= n


def test_the_core_gate_reads_prompts_alone_and_lets_decoding_share():
    from rag.llms.embedded import CoreGate

    gate = CoreGate(cores=2)
    log: list[str] = []
    held = _Held()
    in_step = threading.Event()
    shares: dict[str, set[int]] = {"a": set(), "b": set()}

    def decoder(name: str, steps: int) -> None:
        with gate.generation():
            for _ in range(steps):
                with gate.decode_step() as threads:
                    held.enter(threads)
                    shares[name].add(threads)
                    log.append(f"{name}+")
                    in_step.set()
                    time.sleep(0.01)
                    log.append(f"{name}-")
                    held.leave(threads)

    def reader() -> None:
        in_step.wait()
        with gate.prompt() as threads:
            held.enter(threads)
            log.append("P+")
            time.sleep(0.05)
            log.append("P-")
            held.leave(threads)

    with gate.generation():  # the reader's generation, counted from the start
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
    # Decoding steps of the two contexts overlapped (shared the cores) outside the prompt,
    # on one core each, and the cores were never oversubscribed.
    assert any(x.endswith("+") and y.endswith("+") for x, y in itertools.pairwise(log))
    assert shares == {"a": {1}, "b": {1}} and held.most == 2


def test_adaptive_a_lone_generation_decodes_on_every_core_and_a_pair_splits_them():
    from rag.llms.embedded import CoreGate

    gate = CoreGate(cores=4, adaptive=True)
    with gate.generation():
        with gate.decode_step() as alone:
            pass
        with gate.generation(), gate.decode_step() as first, gate.decode_step() as second:
            pass
        with gate.decode_step() as left_alone:
            pass
    assert (alone, first, second, left_alone) == (4, 2, 2, 4)
    with gate.generation(), gate.prompt() as prompt:
        assert prompt == 4


def test_by_default_a_context_decodes_on_its_share_and_a_count_can_be_pinned():
    from rag.llms.embedded import CoreGate

    fixed_share = CoreGate(cores=2, contexts=2)
    pinned = CoreGate(cores=6, contexts=2, fixed=3)
    with fixed_share.generation(), fixed_share.decode_step() as share:
        assert share == 1  # alone, yet one core: the other is the app's server and browser
    with pinned.generation(), pinned.decode_step() as a, pinned.decode_step() as b, pinned.generation():
        assert a == b == 3
    with pinned.prompt() as p:
        assert p == 3


def test_adaptive_a_lone_answer_runs_on_every_core():
    from rag.llms.embedded import EmbeddedTarget, LlamaPool, model_path

    pool = LlamaPool(model_path(), size=2, adaptive=True)
    target = EmbeddedTarget(pool=pool)
    try:
        list(target.stream([HumanMessage("Name a fruit.")], options=GenerationOptions(max_tokens=6)))
        with pool.context() as context:
            assert context.llama.threads_now == pool.gate.cores
    finally:
        pool.close()


def test_greedy_answers_repeat_whatever_the_context_held_before(embedded_target):
    options = GenerationOptions(max_tokens=24, temperature=0.0)

    def answer(question: str) -> str:
        items = embedded_target.stream([HumanMessage(question)], options=options)
        return "".join(i.text for i in items if isinstance(i, Delta))

    first = answer("What is a Cloud Run service?")
    answer("What is a Cloud Run service with a GPU and how is it billed?")  # shares a prefix
    assert answer("What is a Cloud Run service?") == first


def test_a_sampled_follow_up_finds_its_conversation_and_reads_only_the_new_part(monkeypatch):
    from langchain_core.messages import AIMessage

    from rag.llms.embedded import EmbeddedTarget, LlamaPool, model_path
    from rag.llms.embedded.llama import GatedLlama

    pool = LlamaPool(model_path(), size=2)
    pool.warm()
    target = EmbeddedTarget(pool=pool)
    options = GenerationOptions(max_tokens=12, temperature=0.5)
    read: list[int] = []
    original = GatedLlama.eval
    monkeypatch.setattr(
        GatedLlama, "eval", lambda self, tokens: (read.append(len(tokens)), original(self, tokens))[1]
    )

    def answer(messages) -> str:
        return "".join(i.text for i in target.stream(messages, options=options) if isinstance(i, Delta))

    try:
        first = [HumanMessage("What does a Cloud Run service with a GPU cost per hour in detail?")]
        reply = answer(first)
        answer([HumanMessage("Which port does Ollama listen on?")])  # the other conversation
        follow_up = [*first, AIMessage(reply), HumanMessage("And per minute?")]
        prompt, _ = render_completion(follow_up)
        read.clear()
        answer(follow_up)
        full = len(pool._free[0].llama.tokenize(prompt.encode("utf-8"), add_bos=True))
        assert read and read[0] < full / 2  # the conversation so far was already in the cache
    finally:
        pool.close()


def test_the_log_callback_is_installed_once_when_first_loads_race(monkeypatch):
    """Issue 10: two sessions' first questions loaded contexts at once; the second
    installation replaced (and freed) the callback llama.cpp was still calling."""
    import llama_cpp

    from rag.llms.embedded import logs

    installed: list[object] = []

    make_callback = llama_cpp.llama_log_callback

    def slow_callback(function):
        time.sleep(0.01)  # as slow as a first `import llama_cpp`: the window the race needs
        return make_callback(function)

    monkeypatch.setattr(logs, "_log_callback", None)  # restored (and kept alive) after the test
    monkeypatch.setattr(llama_cpp, "llama_log_callback", slow_callback)
    monkeypatch.setattr(llama_cpp, "llama_log_set", lambda callback, user_data: installed.append(callback))
    start = threading.Barrier(8)

    def first_use() -> None:
        start.wait()
        logs.quiet_llama_cpp()

    threads = [threading.Thread(target=first_use) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert installed == [logs._log_callback]


def test_cold_processes_load_two_contexts_at_once_without_crashing(tmp_path):
    """The real thing: fresh processes whose two first generations start together."""
    import subprocess
    import sys

    script = tmp_path / "cold.py"
    script.write_text(
        "import threading\n"
        "from langchain_core.messages import HumanMessage\n"
        "from rag.llms.base import GenerationOptions\n"
        "from rag.llms.embedded import EmbeddedTarget, LlamaPool, model_path\n"
        "target = EmbeddedTarget(pool=LlamaPool(model_path(), size=2))\n"
        "start = threading.Barrier(2)\n"
        "def go():\n"
        "    start.wait()\n"
        "    list(target.stream([HumanMessage('Hi')], options=GenerationOptions(max_tokens=2)))\n"
        "threads = [threading.Thread(target=go) for _ in range(2)]\n"
        "[t.start() for t in threads]\n"
        "[t.join() for t in threads]\n"
        "print('ok')\n"
    )
    from tests.conftest import ROOT

    for _ in range(4):
        done = subprocess.run(
            [sys.executable, str(script)],
            cwd=ROOT,
            env={**os.environ, "PYTHONPATH": str(ROOT)},
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert done.returncode == 0 and done.stdout.strip() == "ok", done.stderr[-2000:]


def test_a_question_waiting_for_the_model_says_how_many_are_ahead():
    """A room on 2 cores queues: each waiting generation is told its place, first come first served."""
    from rag.llms.base import Waiting
    from rag.llms.embedded import EmbeddedTarget, LlamaPool, model_path

    pool = LlamaPool(model_path(), size=1)
    pool.warm()
    target = EmbeddedTarget(pool=pool)
    seen: dict[int, list[int]] = {1: [], 2: []}
    finished: list[int] = []
    options = GenerationOptions(max_tokens=6, temperature=0.0)
    try:
        with pool.context():  # the model is busy

            def ask(i: int) -> None:
                for item in target.stream([HumanMessage("Name a colour.")], options=options):
                    if isinstance(item, Waiting):
                        seen[i].append(item.ahead)
                finished.append(i)

            first = threading.Thread(target=ask, args=(1,))
            first.start()
            time.sleep(0.3)
            second = threading.Thread(target=ask, args=(2,))
            second.start()
            time.sleep(1.2)
            assert pool.waiting() == 2 and seen[1][-1] == 0 and seen[2][-1] == 1
        first.join(60)
        second.join(60)
        assert finished == [1, 2]  # first come, first served
        assert 0 in seen[2]  # it moved up when the first one got the model
    finally:
        pool.close()


def test_stop_while_waiting_leaves_the_queue():
    from rag.chains import AnswerEvent, RawChain, WaitingEvent
    from rag.llms.embedded import EmbeddedTarget, LlamaPool, model_path

    pool = LlamaPool(model_path(), size=1)
    pool.warm()
    chain = RawChain(EmbeddedTarget(pool=pool), options=GenerationOptions(max_tokens=4))
    cancel = threading.Event()
    events: list[object] = []
    try:
        with pool.context():
            worker = threading.Thread(target=lambda: events.extend(chain.stream("Hi", cancel=cancel)))
            worker.start()
            time.sleep(0.8)
            assert any(isinstance(e, WaitingEvent) for e in events) and pool.waiting() == 1
            cancel.set()
            worker.join(2)  # a Stop ends the wait within a poll
            assert not worker.is_alive() and pool.waiting() == 0
        answer = next(e for e in events if isinstance(e, AnswerEvent)).answer
        assert answer.done_reason == "cancelled"
        with pool.context() as llm:  # the context was not lost
            assert llm is not None
    finally:
        pool.close()


def test_a_follow_up_gets_its_conversation_unless_the_pool_is_built_without_affinity():
    from rag.llms.embedded import LlamaPool, model_path

    conversation = "Question: What is Cloud Run?\nAnswer: A service."
    follow_up = conversation + "\nQuestion: And a GPU?\nAnswer:"
    for affinity in (True, False):
        pool = LlamaPool(model_path(), size=2, affinity=affinity)
        pool.warm()
        try:
            least_recent, holder = pool._free
            holder.holds = conversation
            with pool.context(follow_up) as context:
                pass
            assert context is (holder if affinity else least_recent)
        finally:
            pool.close()


@pytest.mark.parametrize(
    "variant, adaptive, affinity", [("adaptive", True, True), ("no-affinity", False, False)]
)
def test_a_benchmark_baseline_builds_the_app_pool_through_the_factory(variant, adaptive, affinity):
    """bench/variants/sitecustomize.py sets the pool policy at start-up (set_pool_factory)."""
    import subprocess
    import sys

    from tests.conftest import ROOT

    code = "from rag.llms.embedded import get_pool; p = get_pool(); print(p.gate.adaptive, p.affinity)"
    paths = os.pathsep.join([str(ROOT / "bench" / "variants"), str(ROOT)])
    env = {**os.environ, "BENCH_POOL_VARIANT": variant, "PYTHONPATH": paths}
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120
    )
    assert done.stdout.split() == [str(adaptive), str(affinity)], done.stderr[-2000:]
