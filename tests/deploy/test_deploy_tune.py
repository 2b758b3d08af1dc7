"""Concurrency tuning against the fake Ollama on loopback (deploy/tune, `python -m deploy tune`).

The fake decodes each answer at `token_delay` per token; with `parallel` slots
a request waits for a free slot first, and with `queue` a full queue answers
503 at once. So throughput rises up to `parallel` and then flattens, and the
latency above it is waiting: numbers the tests can predict.
"""

from __future__ import annotations

import json
import socket
import threading
import time

import pytest

from deploy import catalog
from deploy.cli import main
from deploy.config import DeployConfig
from deploy.tune import (
    CANCELLED,
    COMPLETED,
    LEVEL_TIME_CAP,
    NO_SUCCESS,
    TIME_CAP,
    LevelResult,
    Sample,
    SweepSettings,
    TuneError,
    TuneReport,
    chat_payload,
    percentile,
    rag_messages,
    recommend,
    sweep,
    target_for,
)
from deploy.tune.measure import load_client, timed_chat
from rag.llms.ollama import CloudRunTarget, OllamaTarget
from rag.prompts import ANSWER_SYSTEM
from tests.servers.base import LocalServer, QuietHandler
from tests.servers.ollama import FakeOllama, OllamaState
from tests.servers.openai_server import ALIAS, LlamaCppServer

MODEL = "gemma2:9b"
TOKENS = 10
DELAY = 0.02  # per token: one answer takes ~TOKENS * DELAY + FIRST
FIRST = 0.02


def words(n: int):
    return lambda messages: " ".join(f"w{i}" for i in range(n))


def fake(**knobs) -> FakeOllama:
    knobs = {"answer": words(TOKENS), "token_delay": DELAY, "first_token_delay": FIRST, **knobs}
    return FakeOllama(OllamaState(**knobs))


def quick(**changes) -> SweepSettings:
    return SweepSettings(**{"levels": (1, 2), "requests": 4, "warmup": False, **changes})


def chats(server: FakeOllama) -> list:
    return [r for r in server.state.requests if r.path == "/api/chat"]


@pytest.fixture(scope="module")
def capped():
    """One sweep of levels 1-8 against a server with 2 decode slots (~0.27 s an answer), shared."""
    with fake(parallel=2, token_delay=0.025) as server:
        report = sweep(target_for(server.url), MODEL, SweepSettings(levels=(1, 2, 4, 8), requests=8))
        return report, server.state


# The request ------------------------------------------------------------------


def test_prompt_is_the_rag_answer_prompt_with_four_chunks_and_differs_per_request():
    system, question = rag_messages(3)
    assert system["content"].startswith(ANSWER_SYSTEM.split("{context}")[0])
    assert all(f"[{i}]" in system["content"] for i in range(1, 5)) and "[5]" not in system["content"]
    assert 3000 < len(system["content"]) < 4000 and question["role"] == "user"
    assert rag_messages(3) == rag_messages(3)  # deterministic
    assert len({rag_messages(seed)[0]["content"] for seed in range(100)}) == 100  # no prompt-cache hits
    payload = chat_payload(MODEL, 0, max_tokens=64)
    assert payload["stream"] is True and payload["options"]["num_predict"] == 64


# Measuring ----------------------------------------------------------------------


def test_sweep_measures_latency_and_tokens_from_ollamas_own_counters():
    with fake() as server:
        report = sweep(target_for(server.url), MODEL, quick(max_tokens=8))
        bodies = [r.body for r in chats(server)]
    assert report.stop_reason == COMPLETED and [r.level for r in report.levels] == [1, 2]
    assert len(bodies) == 8 and all(b["options"]["num_predict"] == 8 and b["stream"] for b in bodies)
    for result in report.levels:
        assert result.completed == result.planned == 4 and result.errors == {}
        for s in result.samples:
            assert 0 < s.ttft_s < s.total_s and s.eval_count == 8 and s.prompt_eval_count > 400
        assert result.output_tokens_per_s == pytest.approx(32 / result.wall_s)
        assert 20 < result.decode_tokens_per_s < 55  # eval_count / eval_duration: ~1 / DELAY
        assert result.ttft(50) <= result.ttft(95) and result.total(50) <= result.total(95)
    one, two = report.levels
    assert two.requests_per_s > 1.6 * one.requests_per_s  # no cap: two at once, twice the rate
    json.dumps(report.to_dict(samples=True))  # JSON-ready
    assert set(report.rows()[0]) >= {
        "level",
        "requests_per_s",
        "output_tokens_per_s",
        "decode_tokens_per_s",
        "ttft_p50_s",
        "ttft_p95_s",
        "total_p50_s",
        "total_p95_s",
        "errors_429",
        "errors_503",
        "errors_other",
    }


def test_throughput_rises_then_flattens_at_the_servers_parallel_slots(capped):
    report, state = capped
    l1, l2, l4, l8 = report.levels
    assert l2.requests_per_s > 1.5 * l1.requests_per_s
    assert l4.requests_per_s < 1.25 * l2.requests_per_s and l8.requests_per_s < 1.25 * l2.requests_per_s
    # Above 2 the extra latency is waiting for a slot: before the first token, not slower decoding.
    # (Medians on the left of each ratio: one answer slowed by a busy test machine can't flip it.)
    assert l4.total(50) > 1.5 * l2.total(50) and l8.total(95) > 2.5 * l2.total(50)
    assert l8.ttft(95) > l2.total(50)
    assert l8.decode_tokens_per_s == pytest.approx(l1.decode_tokens_per_s, rel=0.25)
    assert state.max_decoding == 2 and state.max_waiting >= 4
    assert report.table().splitlines()[0].split()[:2] == ["level", "ok/req"]


def test_slowdown_makes_each_answer_slower_while_the_total_rises():
    with fake(slowdown=1.0) as server:
        report = sweep(target_for(server.url), MODEL, quick())
    one, two = report.levels
    assert two.decode_tokens_per_s < 0.75 * one.decode_tokens_per_s
    assert two.output_tokens_per_s > one.output_tokens_per_s * 0.9


def test_a_full_queue_answers_503_which_is_counted_and_never_retried():
    with fake(parallel=1, queue=0) as server:
        report = sweep(target_for(server.url), MODEL, quick(levels=(1, 4)))
        sent = len(chats(server))
        rejected = server.state.rejected
    one, four = report.levels
    assert one.errors == {} and four.busy == four.errors["503"] == rejected > 0
    assert four.completed + four.busy == 4 == sent - 4  # every 503 was one request, none retried
    assert report.rows()[1]["errors_503"] == rejected
    rec = recommend(report, latency_target_s=60, participants=4)
    assert (rec.num_parallel, rec.concurrency) == (1, 1)  # level 4 had 503s: it does not qualify


def test_other_failures_become_categories():
    with fake(error_after_tokens=2) as server:
        report = sweep(target_for(server.url), MODEL, quick(levels=(1, 2)))
    assert report.levels[0].errors == {"stream": 4} and report.stop_reason == NO_SUCCESS
    assert len(report.levels) == 1  # nothing succeeded: higher levels are not tried
    with fake(first_token_delay=1.0) as server, load_client(target_for(server.url), 1) as client:
        now = time.monotonic()
        slow = timed_chat(
            client, chat_payload(MODEL), t0=now, deadline=now + 30, cancel=threading.Event(), read_s=0.2
        )
    assert slow.error == "timeout" and slow.total_s < 0.8
    with load_client(target_for(f"http://127.0.0.1:{free_port()}"), 1) as client:
        now = time.monotonic()
        down = timed_chat(client, chat_payload(MODEL), t0=now, deadline=now + 5, cancel=threading.Event())
    assert down.error == "connection"


# Bounds: request count, time caps, cancel, progress ------------------------------


def in_flight(result: LevelResult) -> int:
    """The most requests the client had in flight at once."""
    edges = sorted([(s.start_s, 1) for s in result.samples] + [(s.end_s, -1) for s in result.samples])
    running = peak = 0
    for _, step in edges:
        running += step
        peak = max(peak, running)
    return peak


def test_each_level_sends_exactly_its_request_count_on_level_workers():
    with fake() as server:
        report = sweep(target_for(server.url), MODEL, SweepSettings(levels=(1, 3), requests=5))
        assert len(chats(server)) == 1 + 10  # the warm-up, then 5 per level
        assert chats(server)[0].body["options"]["num_predict"] == 8  # the warm-up is short
    assert [len(r.samples) for r in report.levels] == [5, 5]
    assert [in_flight(r) for r in report.levels] == [1, 3]
    assert SweepSettings().requests_for(1) == 8 and SweepSettings().requests_for(16) == 32


def test_a_level_time_cap_cuts_requests_in_flight_and_ends_the_sweep():
    slow = {"answer": words(40), "token_delay": 0.05}  # 2 s per answer
    with fake(**slow) as server:
        started = time.monotonic()
        report = sweep(target_for(server.url), MODEL, quick(levels=(2, 4), level_cap_s=0.4))
        elapsed = time.monotonic() - started
    (two,) = report.levels
    assert report.stop_reason == LEVEL_TIME_CAP and two.stopped == LEVEL_TIME_CAP
    assert elapsed < 1.2 and two.wall_s < 0.7
    assert two.completed == 0 and two.errors == {} and two.unfinished == 4  # cut, not "timeout"


def test_the_overall_time_cap_also_cuts_requests_waiting_for_a_slot():
    with fake(answer=words(40), token_delay=0.05, parallel=1) as server:
        started = time.monotonic()
        report = sweep(target_for(server.url), MODEL, quick(levels=(2,), requests=2, time_cap_s=0.5))
        elapsed = time.monotonic() - started
    assert report.stop_reason == TIME_CAP and elapsed < 1.2
    assert report.levels[0].errors == {} and report.levels[0].unfinished == 2


def test_cancel_from_the_progress_callback_stops_mid_level():
    cancel = threading.Event()

    def on_progress(p):
        if p.phase == "level" and p.done >= 2:
            cancel.set()

    with fake() as server:
        report = sweep(
            target_for(server.url),
            MODEL,
            quick(levels=(1, 2), requests=8),
            cancel=cancel,
            on_progress=on_progress,
        )
    (one,) = report.levels
    assert report.stop_reason == CANCELLED == one.stopped
    assert one.completed == 2 and one.unfinished == 6


def test_cancel_from_another_thread_cuts_streams_promptly():
    cancel, cancelled_at = threading.Event(), []

    def cancel_mid_level(server: FakeOllama) -> None:  # 0.3 s into the level, however slow the check
        eventually(lambda: len(chats(server)) == 4, within=30)
        time.sleep(0.3)
        cancelled_at.append(time.monotonic())
        cancel.set()

    with fake(answer=words(60), token_delay=0.05) as server:  # 3 s per answer
        threading.Thread(target=cancel_mid_level, args=(server,), daemon=True).start()
        report = sweep(target_for(server.url), MODEL, quick(levels=(4,)), cancel=cancel)
        elapsed = time.monotonic() - cancelled_at[0]
    assert report.stop_reason == CANCELLED and elapsed < 0.7
    assert report.levels[0].unfinished == 4


def test_an_exception_in_the_progress_callback_cancels_the_workers():
    cancel = threading.Event()

    def on_progress(p):
        if p.phase == "level":
            raise KeyboardInterrupt  # what a Streamlit rerun does to a running script, roughly

    with fake(answer=words(20), token_delay=0.05) as server:
        with pytest.raises(KeyboardInterrupt):
            sweep(
                target_for(server.url),
                MODEL,
                quick(levels=(1, 4), requests=8),
                cancel=cancel,
                on_progress=on_progress,
            )
        assert cancel.is_set()
        # The worker may have sent level 1's second request already; it was cut, and nothing followed.
        assert eventually(lambda: server.state.active == 0) and len(chats(server)) <= 2


def test_progress_is_reported_per_request_from_the_calling_thread():
    seen = []
    with fake(unavailable=0) as server:
        sweep(
            target_for(server.url),
            MODEL,
            SweepSettings(levels=(1, 2), requests=3),
            on_progress=lambda p: seen.append((threading.current_thread(), p)),
        )
    assert {thread for thread, _ in seen} == {threading.current_thread()}
    progress = [p for _, p in seen]
    assert [p.phase for p in progress[:2]] == ["check", "warmup"] and progress[-1].phase == "done"
    levels = [(p.level, p.done, p.total) for p in progress if p.phase == "level"]
    assert levels == [(1, 1, 3), (1, 2, 3), (1, 3, 3), (2, 1, 3), (2, 2, 3), (2, 3, 3)]
    fractions = [p.fraction for p in progress]
    assert fractions == sorted(fractions) and fractions[-1] == 1.0
    assert "level 2 (2/2): 3/3 done, 0 error(s)" in progress[-2].line()


def test_a_server_that_is_down_or_lacks_the_model_fails_before_the_sweep():
    with pytest.raises(TuneError, match="Cannot reach") as err:
        sweep(target_for(f"http://127.0.0.1:{free_port()}"), MODEL, quick())
    assert "ollama serve" in err.value.fix
    with fake() as server, pytest.raises(TuneError, match="does not have the model"):
        sweep(target_for(server.url), "llama3:70b", quick())
    with fake(error_after_tokens=0) as server, pytest.raises(TuneError, match="warm-up"):
        sweep(target_for(server.url), MODEL, quick(warmup=True))
    with pytest.raises(TuneError, match="at least the highest level"):
        sweep(target_for("http://127.0.0.1:9"), MODEL, SweepSettings(levels=(1, 8), requests=4))


# The recommendation ------------------------------------------------------------------


def level(n: int, p95: float, tokens_per_s: float, errors: int = 0, planned: int = 8) -> LevelResult:
    ok = [Sample(end_s=p95, ttft_s=0.1, eval_count=100, eval_s=2.0)] * (planned - errors)
    return LevelResult(n, planned, ok + [Sample("503", end_s=0.01)] * errors, 100 * len(ok) / tokens_per_s)


def report_of(*levels: LevelResult) -> TuneReport:
    return TuneReport("http://127.0.0.1:1", MODEL, SweepSettings(), list(levels))


CURVE = (level(1, 2.0, 100), level(2, 2.2, 190), level(4, 3.0, 360), level(8, 6.0, 370))


def consistent(rec) -> bool:
    config = DeployConfig(project="workshop-project", region="us-central1", **rec.as_form_values())
    return rec.problems() == [] == config.problems() and not catalog.concurrency_problems(
        rec.concurrency, rec.num_parallel
    )


def test_recommend_picks_the_highest_level_within_the_target():
    rec = recommend(report_of(*CURVE), latency_target_s=4, participants=30)
    assert (rec.num_parallel, rec.concurrency, rec.max_instances) == (4, 4, 15) and rec.met_target
    assert rec.peak_requests == 60 and "60 / 4 per instance = 15" in " ".join(rec.reasons)
    assert rec.as_form_values() == {"concurrency": 4, "num_parallel": 4, "max_instances": 15}
    assert consistent(rec)


def test_recommend_allows_up_to_twice_the_slots_when_queueing_still_meets_the_target():
    rec = recommend(report_of(*CURVE), latency_target_s=7, participants=30)
    assert (rec.num_parallel, rec.concurrency, rec.max_instances) == (4, 8, 8)  # knee at 4, 8 met 7 s
    assert "flattened at level 4" in " ".join(rec.reasons) and consistent(rec)
    flat = report_of(
        level(1, 1, 100), level(2, 1.5, 200), level(4, 3, 205), level(8, 5, 206), level(16, 9, 207)
    )
    rec = recommend(flat, latency_target_s=10, participants=10, served_parallel=2)
    assert (rec.num_parallel, rec.concurrency, rec.max_instances) == (2, 4, 5)  # capped at 2x
    assert "the 2x cap" in " ".join(rec.reasons) and "redeploy with a higher value" in " ".join(rec.reasons)
    assert consistent(rec)


def test_errors_or_a_missed_target_below_stop_the_climb():
    busy = report_of(level(1, 2, 100), level(2, 2, 190), level(4, 2.5, 350, errors=1), level(8, 3, 400))
    rec = recommend(busy, latency_target_s=10, participants=3)
    assert (rec.num_parallel, rec.concurrency, rec.max_instances) == (2, 2, 3)
    cut = level(4, 2.5, 350)
    cut.stopped = TIME_CAP
    assert recommend(report_of(level(2, 2, 190), cut), 10, 3).concurrency == 2


def test_nothing_meets_the_target_or_nothing_was_measured():
    rec = recommend(report_of(*CURVE), latency_target_s=1, participants=5)
    assert (rec.num_parallel, rec.concurrency, rec.max_instances) == (1, 1, 10) and not rec.met_target
    assert "took 2.0 s at p95" in rec.reasons[0] and consistent(rec)
    rec = recommend(report_of(), latency_target_s=10, participants=8)
    assert (rec.num_parallel, rec.concurrency, rec.max_instances) == (4, 4, 4) and not rec.met_target
    rec = recommend(report_of(*CURVE), latency_target_s=4, participants=1000)
    assert rec.max_instances == 100 and "500 instances would be needed" in " ".join(rec.reasons)


def test_recommend_from_a_real_sweep(capped):
    report, _ = capped
    # Per answer ~0.27 s; with 2 slots, level 4 waits one turn (~0.55 s) and level 8 three (~1.1 s).
    # A target between the two (taken from the data, so a busy test machine can't move it):
    target = (report.level(4).total(95) + report.level(8).total(95)) / 2
    rec = recommend(report, latency_target_s=target, participants=6)
    assert (rec.num_parallel, rec.concurrency, rec.max_instances) == (2, 4, 3) and consistent(rec)


def test_percentiles_are_nearest_rank():
    values = list(range(1, 11))
    assert (percentile(values, 50), percentile(values, 95), percentile(values, 0)) == (5, 10, 1)
    assert percentile([3.0], 95) == 3.0 and percentile([], 50) is None


# The command line ------------------------------------------------------------------------

ARGS = [
    "--levels",
    "1",
    "2",
    "--requests",
    "2",
    "--max-tokens",
    "5",
    "--latency-target",
    "5",
    "--participants",
    "10",
]


def test_cli_prints_progress_a_table_and_the_recommendation(capsys):
    with fake() as server:
        assert main(["tune", server.url, *ARGS]) == 0
    out, err = capsys.readouterr()
    assert "level 2 (2/2): 2/2 done" in err and "check" in err
    assert "level  ok/req" in out and "completed" in out
    # Both levels meet 5 s; 10 participants x 2 requests / concurrency 2 = 10 instances.
    assert (
        "OLLAMA_NUM_PARALLEL=2  --concurrency 2  --max-instances 10" in out
        or "OLLAMA_NUM_PARALLEL=1  --concurrency 2  --max-instances 10" in out
    )  # a loaded machine: no gain at 2
    assert "python -m deploy deploy ... --concurrency 2 --num-parallel " in out


def test_cli_json(capsys):
    with fake() as server:
        assert main(["tune", server.url, *ARGS, "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert [row["level"] for row in data["report"]["levels"]] == [1, 2]
    assert data["recommendation"]["concurrency"] == 2 and data["report"]["stop_reason"] == COMPLETED


def test_cli_fails_cleanly(capsys):
    assert main(["tune", f"http://127.0.0.1:{free_port()}", *ARGS]) == 1
    out, err = capsys.readouterr()
    assert out == "" and "error: Cannot reach" in err and "fix: Check that Ollama is running" in err
    assert "Traceback" not in err
    assert main(["tune", "http://127.0.0.1:9", "--levels", "1", "4", "--requests", "2"]) == 2
    for bad in (["--levels", "0"], ["--requests", "x"], ["--time-cap", "-1"], ["--cloudrun", "--token", "t"]):
        with pytest.raises(SystemExit) as exit_:
            main(["tune", "http://127.0.0.1:9", *bad])
        assert exit_.value.code == 2


# Cloud Run: a fresh Google ID token on every request ---------------------------------------


@pytest.fixture
def service_account(monkeypatch, tmp_path, google_auth):
    monkeypatch.setenv("CLOUDSDK_CONFIG", str(tmp_path / "gcloud"))
    monkeypatch.setenv("GCE_METADATA_IP", "127.0.0.1:9")  # no metadata server
    monkeypatch.setenv("GOOGLE_APPLICATION_CREDENTIALS", str(google_auth.service_account_file(tmp_path)))
    return google_auth


def test_cloud_run_mode_sends_a_valid_id_token_for_the_service(service_account, capsys):
    server = fake()
    server.state.accept_token = lambda token: service_account.state.valid(token, server.url)
    with server:
        assert main(["tune", server.url, *ARGS, "--cloudrun", "--json"]) == 0
        tokens = {r.headers.get("Authorization", "") for r in server.state.requests}
        assert len(chats(server)) == 5  # warm-up + 2 + 2, none refused
        assert main(["tune", server.url, *ARGS]) == 1  # no token: refused, with the IAM fix
    assert json.loads(capsys.readouterr().out)["report"]["levels"][1]["ok"] == 2
    assert len(tokens) == 1 and service_account.state.valid(tokens.pop().removeprefix("Bearer "), server.url)
    assert service_account.state.grants == ["urn:ietf:params:oauth:grant-type:jwt-bearer"]  # fetched once


def test_target_for_picks_the_auth():
    assert type(target_for("https://ollama-gemma2-9b-abc-uc.a.run.app")).__name__ == "CloudRunTarget"
    bearer = target_for("https://x.a.run.app", token="t")
    assert isinstance(bearer, OllamaTarget) and not isinstance(bearer, CloudRunTarget)
    assert target_for("http://localhost:11434").auth is None
    assert repr(target_for("http://localhost:11434", token="secret").auth) == "BearerAuth(****)"


def eventually(condition, within: float = 3.0) -> bool:
    """The server notices a hung-up client at its next write; give it a moment."""
    end = time.monotonic() + within
    while not condition():
        if time.monotonic() > end:
            return False
        time.sleep(0.02)
    return True


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


# An OpenAI-compatible server (vLLM's API): the same sweep through /v1/chat/completions ------


@pytest.mark.slow
def test_tune_against_a_real_openai_compatible_server(capsys):
    """llama.cpp's server with the packaged model: the API is detected, the model is the one it serves."""
    with LlamaCppServer() as server:
        code = main(["tune", server.url, "--levels", "1", "2", "--requests", "2", "--max-tokens", "8",
                     "--latency-target", "120", "--participants", "4", "--json"])  # fmt: skip
    out, err = capsys.readouterr()
    assert code == 0, err
    report = json.loads(out)["report"]
    assert report["api"] == "openai" and report["model"] == ALIAS and report["stop_reason"] == COMPLETED
    for row in report["levels"]:
        assert row["ok"] == row["requests"] == 2 and row["errors_other"] == 0
        assert row["ttft_p50_s"] > 0 and row["output_tokens_per_s"] > 0 and row["decode_tokens_per_s"] > 0
    assert "check" in err and "level 2" in err


class Refusing(QuietHandler):
    """A proxy that refuses the token: 401 with a plain-text body, on every path."""

    def do_GET(self):
        self.server.owner.seen.append(self.headers.get("Authorization"))
        body = b"Unauthorized"
        self.send_response(401)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    do_POST = do_GET


def test_a_refused_token_is_a_sentence_and_a_fix_not_a_json_error(capsys):
    """Issue 11 item 16: `deploy tune --token X` against a 401 once printed
    "Expecting value: line 1 column 1 (char 0)"."""
    server = LocalServer(Refusing)
    server.seen = []
    with server:
        assert main(["tune", server.url, "--token", "wrong", *ARGS]) == 1
    out, err = capsys.readouterr()
    assert out == "" and "Expecting value" not in err and "Traceback" not in err
    assert f"error: Ollama at {server.url} refused the request (401: Unauthorized)." in err
    assert "fix: Give the token the server expects: `--token`" in err
    assert set(server.seen) == {"Bearer wrong"}


def test_an_openai_stream_is_read_with_its_usage_counts():
    from deploy.tune.measure import _openai_line

    chunk = _openai_line('data: {"choices": [{"delta": {"content": "Hi"}}]}')
    usage = _openai_line('data: {"choices": [], "usage": {"prompt_tokens": 9, "completion_tokens": 3}}')
    assert chunk.text == "Hi" and not chunk.final
    assert usage.counters == {"eval_count": 3, "prompt_eval_count": 9}
    assert _openai_line("data: [DONE]").final and _openai_line(": ping") is None
    with pytest.raises(ValueError):
        _openai_line('data: {"error": {"message": "boom"}}')
    payload = chat_payload("m", api="openai")
    assert payload["max_tokens"] == 256 and payload["stream_options"] == {"include_usage": True}
