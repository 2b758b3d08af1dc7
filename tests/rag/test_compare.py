"""Scoring RAG against the raw model, against a protocol-faithful Ollama and a real index."""

import csv
import io
import json
import os
import socket
import subprocess
import sys
import threading
import time

import pytest

from rag.chains import RagChain, RawChain
from rag.cli import main
from rag.compare import (
    keys_stated,
    normalise,
    nothing_measured,
    run_comparison,
    says_dont_know,
    summarise,
    to_csv,
    to_json,
)
from rag.evaluation import load_questions
from rag.llms import make_target
from tests.conftest import ROOT

QUESTIONS = ROOT / "rag" / "data" / "sample-guide-qa.jsonl"


def test_normalisation_ignores_case_quotes_punctuation_and_spacing():
    assert normalise("Use  `None`  as the DEFAULT value!") == "use none as the default value"
    assert keys_stated("It’s evaluated only once.", ["evaluated only once", "it's evaluated"]) == [True, True]
    assert keys_stated("Python 3.11 adds except*", ["3.11", "except*", "3.1"]) == [True, True, False]
    assert keys_stated("newline='' is needed", ["newline=''"]) == [True]


def test_abstentions_are_recognised():
    for text in ("I don't know.", "I do not know the answer", "The context does not mention it.", ""):
        assert says_dont_know(text), text
    assert not says_dont_know("Set OLLAMA_KEEP_ALIVE to -1.")


@pytest.fixture(scope="module")
def retriever(local_embeddings):
    from rag.indexing import build_index
    from rag.loading.fetch import FetchConfig
    from rag.loading.loader import WebLoader
    from rag.retrieval import Retriever
    from rag.splitting import get_splitter
    from tests.conftest import SAMPLE_DOCS

    store, _ = build_index(
        WebLoader(FetchConfig()),
        local_embeddings,
        "local:all-MiniLM-L6-v2",
        crawl=(SAMPLE_DOCS / "index.html").as_uri(),
        splitter=("sections", get_splitter("sections")),
    )
    return Retriever(store)


def echo_context(messages):
    """A model that answers with the retrieved context when it has some, else guesses."""
    system = messages[0]["content"]
    if "retrieved context" in system and "[1] " in system:
        return system.split("[1] ", 1)[1]
    return "Probably something about servers."


def test_rag_beats_raw_when_the_model_uses_the_context(ollama, retriever):
    ollama.state.answer = echo_context
    target = make_target(f"ollama:{ollama.url}")
    rag, raw = RagChain(target, retriever, model="gemma2:9b"), RawChain(target, model="gemma2:9b")
    questions = load_questions(QUESTIONS)
    results = list(run_comparison(rag, raw, questions))
    assert len(results) == len(questions)
    summary = summarise(results)["all"]
    assert summary["rag_coverage"] > summary["raw_coverage"] == 0
    assert summary["rag_cited_gold"] >= 0.8
    assert summary["raw_invented_unanswerable"] == 1.0
    unanswerable = [r for r in results if r.unanswerable]
    assert unanswerable and all(r.cited_gold is None and r.rag.coverage is None for r in unanswerable)
    assert all(r.rag.total_s and r.raw.total_s for r in results)
    rows = list(csv.DictReader(io.StringIO(to_csv(results))))
    assert len(rows) == len(results) and rows[0]["id"] == results[0].id and "rag_coverage" in rows[0]
    data = json.loads(json.dumps(to_json(results)))
    assert data["summary"]["all"]["n"] == len(results)


def test_stopping_keeps_the_results_so_far(ollama, retriever):
    target = make_target(f"ollama:{ollama.url}")
    cancel = threading.Event()
    kept = []
    for result in run_comparison(
        RagChain(target, retriever, model="gemma2:9b"),
        RawChain(target, model="gemma2:9b"),
        load_questions(QUESTIONS),
        cancel=cancel,
    ):
        kept.append(result)
        if len(kept) == 2:
            cancel.set()
    assert len(kept) == 2


def test_stop_ends_the_question_in_flight_at_once(ollama, retriever):
    ollama.state.answer = lambda messages: " ".join(["slow"] * 200)
    ollama.state.token_delay = 0.05  # ten seconds an answer
    target = make_target(f"ollama:{ollama.url}")
    cancel = threading.Event()
    threading.Timer(0.5, cancel.set).start()
    started = time.perf_counter()
    try:
        kept = list(
            run_comparison(
                RagChain(target, retriever, model="gemma2:9b"),
                RawChain(target, model="gemma2:9b"),
                load_questions(QUESTIONS),
                cancel=cancel,
            )
        )
    finally:
        ollama.state.token_delay = 0.0
    assert kept == []  # the half-written answers are not scored
    assert time.perf_counter() - started < 5  # not the ten seconds of the answers


def test_a_failing_side_is_scored_as_an_error(ollama, retriever):
    good = make_target(f"ollama:{ollama.url}")
    down = make_target("ollama:http://127.0.0.1:9")
    [result] = run_comparison(
        RagChain(good, retriever, model="gemma2:9b"), RawChain(down), load_questions(QUESTIONS)[:1]
    )
    assert "Cannot reach" in result.raw.error and not result.rag.error
    assert result.raw.coverage is None and result.raw.all_keys is None and result.raw.abstained is None
    assert nothing_measured([result]).startswith("Every model-only answer failed")


def test_the_judge_grades_beside_the_deterministic_scores(ollama, retriever):
    ollama.state.answer = lambda m: (
        "CORRECT" if "You grade answers" in m[-1]["content"] else "at least 4 CPUs and 16 GiB of memory"
    )
    target = make_target(f"ollama:{ollama.url}")
    [result] = run_comparison(
        RagChain(target, retriever, model="gemma2:9b"),
        RawChain(target, model="gemma2:9b"),
        load_questions(QUESTIONS)[:1],
        judge=target,
        judge_model="gemma2:9b",
    )
    assert result.rag.judge == result.raw.judge == "CORRECT"
    assert result.rag.coverage == 1.0  # the judge never replaces the deterministic score


def closed_port() -> int:
    """A loopback port nothing listens on (bound, then released)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


RATES = [
    "rag_coverage",
    "raw_coverage",
    "rag_all_keys",
    "raw_all_keys",
    "rag_cited_gold",
    "rag_abstained_unanswerable",
    "raw_invented_unanswerable",
]


def test_an_unreachable_model_is_an_error_never_a_score(retriever):
    down = make_target(f"ollama:http://127.0.0.1:{closed_port()}")
    questions = load_questions(QUESTIONS)
    results = list(run_comparison(RagChain(down, retriever), RawChain(down), questions))
    summary = summarise(results)["all"]
    assert summary["rag_errors"] == summary["raw_errors"] == len(questions)
    assert all(summary[rate] is None for rate in RATES), summary  # not "RAG idk 0.00, raw made up 1.00"
    assert all(r.cited_gold is None and r.rag.abstained is None for r in results)
    assert nothing_measured(results).startswith("Every answer failed, so nothing was measured")
    rows = list(csv.DictReader(io.StringIO(to_csv(results))))
    assert all("Cannot reach" in row["rag_error"] and row["rag_coverage"] == "" for row in rows)
    assert all(row["raw_abstained"] == "" and row["raw_error"] for row in rows)


def test_answers_failing_mid_stream_are_left_out_of_every_rate(ollama, retriever):
    ollama.state.answer = echo_context
    target = make_target(f"ollama:{ollama.url}")
    questions = load_questions(QUESTIONS)
    answerable = [q for q in questions if q.answer_keys]
    unanswerable = [q for q in questions if not q.answer_keys]
    chosen = [answerable[0], unanswerable[0], *answerable[1:3], unanswerable[1]]
    results = []
    for result in run_comparison(
        RagChain(target, retriever, model="gemma2:9b"), RawChain(target, model="gemma2:9b"), chosen
    ):
        results.append(result)
        if len(results) == 2:  # the next answers break after their first token
            ollama.state.error_after_tokens = 1
    failed = results[2:]
    assert all("unexpected EOF" in r.rag.error and r.rag_answer == "" for r in failed)
    everything, finished = summarise(results)["all"], summarise(results[:2])["all"]
    assert everything["rag_errors"] == everything["raw_errors"] == 3 and everything["n"] == 5
    assert {rate: everything[rate] for rate in RATES} == {rate: finished[rate] for rate in RATES}
    assert everything["rag_coverage"] is not None and nothing_measured(results) == ""


def test_cli_compare_against_a_closed_port_exits_1_with_errors_in_the_table_and_csv(retriever, tmp_path):
    index = retriever.store.save(tmp_path / "guide.ragidx")
    out = tmp_path / "out.csv"
    port = closed_port()
    args = ["compare", str(QUESTIONS), "--index", str(index), "--llm", f"ollama:http://127.0.0.1:{port}"]
    result = subprocess.run(
        [sys.executable, "-m", "rag", *args, "--limit", "3", "--csv", str(out)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "RAG_LLM": "embedded"},
    )
    assert result.returncode == 1, result.stderr[-2000:]
    assert "error: Every answer failed, so nothing was measured" in result.stderr
    assert f"127.0.0.1:{port}" in result.stderr and "Traceback" not in result.stderr
    table = result.stdout.splitlines()
    assert "RAG errors" in table[0] and table[1].split()[:4] == ["all", "3", "3", "3"]
    assert "raw made up" in table[0] and " 1.00" not in result.stdout  # no rate from failed answers
    with open(out, newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert len(rows) == 3 and all(r["rag_error"] and r["raw_error"] and not r["raw_coverage"] for r in rows)


def test_a_bad_question_file_is_refused_before_any_model_call(ollama, retriever, tmp_path, capsys):
    index = retriever.store.save(tmp_path / "guide.ragidx")
    questions = tmp_path / "qa.jsonl"
    good = QUESTIONS.read_text(encoding="utf-8").splitlines()[:3]
    questions.write_text("\n".join([*good, '{"question": "q", "answer_keys": [16, null]}']), encoding="utf-8")
    status = main(["compare", str(questions), "--index", str(index), "--llm", f"ollama:{ollama.url}"])
    assert status == 2 and "line 4" in capsys.readouterr().err
    assert not [r for r in ollama.state.requests if r.path.startswith("/api/chat")]
