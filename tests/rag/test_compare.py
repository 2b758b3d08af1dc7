"""Scoring RAG against the raw model, against a protocol-faithful Ollama and a real index."""

import csv
import io
import json
import threading
import time

import pytest

from rag.chains import RagChain, RawChain
from rag.compare import keys_stated, normalise, run_comparison, says_dont_know, summarise, to_csv, to_json
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
    assert "Cannot reach" in result.raw.error and result.raw.coverage == 0.0 and not result.rag.error


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
