"""Latency on a full index of the Python docs (~15k chunks).

    .venv/bin/python bench/latency.py

1. Retrieval, query embedding included: the passages the chat reads for each single-turn
   question of the evaluation set, repeated; p50 and p95 (floor: p50 ≤ 30 ms); `search`
   alone (as `python -m rag search` ranks) beside it. The query runtime
   (ONNX Runtime, or PyTorch where its graph is missing) is in the result. Follow-ups
   apart (no floor): they embed their history and the bare question.
2. First-turn time before the LLM call: from `RagChain.stream()` to the moment
   the model target (Ollama, on a protocol-faithful server on loopback) is called
   target is called (query, retrieval, prompt building); p50 (floor: ≤ 50 ms).
3. A Streamlit rerun of the Chat page with that index in session state and a
   few turns of history, measured with AppTest; p50 (floor: ≤ 150 ms), and
   the number of embedding calls during the reruns (must be 0).
"""

from __future__ import annotations

import statistics
import time

from common import ROOT, corpus, corpus_index, percentile, write_result

from rag.chains import RagChain
from rag.embeddings.local import LocalEmbeddings, query_encoder
from rag.evaluation import load_questions
from rag.llms import make_target
from rag.retrieval import Retriever, history_query
from rag.store import SKLearnStore
from tests.servers.ollama import FakeOllama

ROUNDS = 5


def retrieval(retriever: Retriever, questions, read: bool = True) -> list[float]:
    """Each search as the chat makes it: a follow-up as its last exchange and the question,
    the bare question weighed beside them (rag/retrieval.py, QUESTION_WEIGHT); the passages
    the model reads (`read`, as the chat since issue 12's nineteenth round) or `search`'s
    chunks (as `python -m rag search` ranks them)."""
    find = retriever.passages if read else retriever.search
    times = []
    for _ in range(ROUNDS):
        for q in questions:
            t0 = time.perf_counter()
            find(history_query(q.question, q.history), 4, question=q.question)
            times.append((time.perf_counter() - t0) * 1000)
    return times


def summary(times: list[float]) -> dict:
    p50, p95 = statistics.median(times), percentile(times, 95)
    return {"p50": round(p50, 1), "p95": round(p95, 1), "n": len(times)}


def before_llm(retriever: Retriever, questions) -> list[float]:
    """From the question to the chain's call into the model target, on the first turn."""
    times = []
    with FakeOllama() as server:
        target = make_target(f"ollama:{server.url}")
        called: list[float] = []
        real_stream = target.stream

        def stream(*args, **kwargs):
            called.append(time.perf_counter())
            return real_stream(*args, **kwargs)

        target.stream = stream  # type: ignore[method-assign]
        chain = RagChain(target, retriever, model="gemma2:9b")
        for _ in range(ROUNDS):
            for q in questions:
                t0 = time.perf_counter()
                for _event in chain.stream(q.question):
                    pass
                times.append((called[-1] - t0) * 1000)
    return times


def reruns(store_path: str) -> tuple[list[float], int]:
    from streamlit.testing.v1 import AppTest

    at = AppTest.from_file(str(ROOT / "streamlit_app.py"), default_timeout=300)
    at.run()
    embeddings = LocalEmbeddings()
    calls = {"n": 0}
    real = embeddings.encode

    def counting(texts):
        calls["n"] += 1
        return real(texts)

    embeddings.encode = counting  # type: ignore[method-assign]
    store = SKLearnStore.load(store_path, embeddings, "local:all-MiniLM-L6-v2")
    from pages.common.state import Chat, IndexState, Turn
    from rag.chains import Answer, Source, Timings

    state = IndexState(store, Retriever(store), None, "python docs")
    state.retriever.bm25()
    at.session_state["index"] = state
    sources = [
        Source("json — JSON encoder and decoder", "http://d/library/json.html#json.dumps", "text " * 80, 0.03)
    ]
    turns = [
        Turn(
            f"Question {i}?",
            Answer("An answer " * 40, "gemma-3-270m", sources, timings=Timings(total=1.0)),
            Answer("Another answer " * 30, "gemma-3-270m", timings=Timings(total=1.0)),
        )
        for i in range(4)
    ]
    at.session_state["chat"] = Chat(turns)
    at.run()
    calls["n"] = 0
    times = []
    for _ in range(20):
        t0 = time.perf_counter()
        at.run()
        times.append((time.perf_counter() - t0) * 1000)
    assert not at.exception, [e.value for e in at.exception]
    return times, calls["n"]


def main() -> None:
    path = corpus_index("python")
    everything = load_questions(corpus("python").questions)
    questions = [q for q in everything if not q.history]
    embeddings = LocalEmbeddings()
    runtime = query_encoder(embeddings.name).wait()  # a graph still exporting would time PyTorch
    store = SKLearnStore.load(path, embeddings, "local:all-MiniLM-L6-v2")
    retriever = Retriever(store)
    t0 = time.perf_counter()
    retriever.bm25()
    bm25_build = time.perf_counter() - t0
    retriever.search("warm up", 4)
    r = retrieval(retriever, questions)
    followups = retrieval(retriever, [q for q in everything if q.history])
    searches = retrieval(retriever, questions, read=False)
    b = before_llm(retriever, questions)
    rerun_times, embed_calls = reruns(str(path))
    data = {
        "chunks": len(store),
        "query_runtime": runtime,
        "bm25_build_s": round(bm25_build, 2),
        "retrieval_ms": summary(r),
        "followup_retrieval_ms": summary(followups),
        "search_ms": summary(searches),
        "before_llm_ms": summary(b),
        "rerun_ms": {**summary(rerun_times), "embedding_calls": embed_calls},
    }
    print(data)
    print(f"written to {write_result('latency-python', data)}")


if __name__ == "__main__":
    main()
