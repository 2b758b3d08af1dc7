"""Queries embedded at the same moment share one batch, and each caller gets its own vector."""

from __future__ import annotations

import dataclasses
import threading
import time

import numpy as np
import pytest

from rag.embeddings import batching
from rag.embeddings.batching import QueryBatcher


class Recorder:
    """An encoder that remembers its batches and is slow enough for callers to pile up."""

    def __init__(self, fail_on: str = "") -> None:
        self.batches: list[list[str]] = []
        self.fail_on = fail_on

    def __call__(self, texts: list[str]) -> np.ndarray:
        self.batches.append(list(texts))
        time.sleep(0.05)
        if self.fail_on in texts:
            raise RuntimeError("model failed")
        return np.array([[float(len(t)), float(sum(map(ord, t)))] for t in texts])


def at_once(batcher: QueryBatcher, texts: list[str]) -> dict[str, object]:
    results: dict[str, object] = {}
    barrier = threading.Barrier(len(texts))

    def one(text: str) -> None:
        barrier.wait()
        try:
            results[text] = batcher.embed(text)
        except RuntimeError as error:
            results[text] = error

    threads = [threading.Thread(target=one, args=(t,)) for t in texts]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=10)
    return results


def test_alone_a_query_is_embedded_at_once() -> None:
    encode = Recorder()
    assert QueryBatcher(encode).embed("abc").tolist() == [3.0, 294.0]
    assert encode.batches == [["abc"]]


def test_callers_at_once_share_batches_and_each_gets_its_own_vector() -> None:
    encode = Recorder()
    texts = [f"question {n} " + "x" * n for n in range(30)]
    results = at_once(QueryBatcher(encode), texts)
    for text in texts:
        assert results[text].tolist() == [float(len(text)), float(sum(map(ord, text)))]
    assert sum(len(b) for b in encode.batches) == 30
    assert len(encode.batches) <= 4  # one alone, then the ones that piled up meanwhile


def test_a_failed_batch_fails_its_callers_and_the_next_batch_still_runs() -> None:
    encode = Recorder(fail_on="bad")
    batcher = QueryBatcher(encode)
    results = at_once(batcher, ["bad", *[f"q{n}" for n in range(10)]])
    failed = [t for t, r in results.items() if isinstance(r, RuntimeError)]
    assert "bad" in failed and len(results) == 11
    assert batcher.embed("after").tolist() == [5.0, float(sum(map(ord, "after")))]


@pytest.mark.slow
def test_the_local_embedder_gives_the_same_vectors_batched(local_embeddings) -> None:
    questions = ["How much memory does an L4 GPU have?", "What is RAG?", "Which port does Ollama use?"]
    alone = [np.array(local_embeddings.embed_query(q)) for q in questions]
    together = at_once(local_embeddings.queries, questions)
    for question, vector in zip(questions, alone, strict=True):
        assert np.allclose(together[question], vector, atol=1e-5)


def test_a_caller_leaving_while_it_waits_does_not_stall_the_batcher(monkeypatch) -> None:
    """A waiter interrupted (Ctrl-C) may be handed the lead after it left: the lead moves on."""

    class Interrupted(threading.Event):
        def wait(self, timeout: float | None = None) -> bool:
            time.sleep(0.1)  # long enough for the leader to hand it the lead
            raise KeyboardInterrupt

    @dataclasses.dataclass(eq=False)
    class Job(batching._Job):
        def __post_init__(self) -> None:
            if self.text == "leaving":
                self.ready = Interrupted()

    monkeypatch.setattr(batching, "_Job", Job)
    batcher = QueryBatcher(Recorder())
    first = threading.Thread(target=batcher.embed, args=("first",))
    first.start()
    time.sleep(0.01)  # "first" is encoding: "leaving" waits, and is handed the lead
    with pytest.raises(KeyboardInterrupt):
        batcher.embed("leaving")
    first.join(timeout=5)
    later: list[object] = []
    caller = threading.Thread(target=lambda: later.append(batcher.embed("later")))
    caller.start()
    caller.join(timeout=5)
    assert later and later[0].tolist() == [5.0, float(sum(map(ord, "later")))]


def test_an_encoder_returning_the_wrong_number_of_rows_fails_its_batch_only() -> None:
    batcher = QueryBatcher(lambda texts: np.zeros((len(texts) + 1, 2)))
    with pytest.raises(ValueError):
        batcher.embed("one")
    batcher._encode = lambda texts: np.ones((len(texts), 2))
    assert batcher.embed("two").tolist() == [1.0, 1.0]


def test_a_small_batch_skips_encode_and_gets_the_same_vectors(local_embeddings):
    """Up to one batch goes through the model's modules directly (no `encode` bookkeeping):
    the same unit vectors as `encode`, for one text, a few of different lengths, and many."""
    from rag.embeddings.local import BATCH_SIZE, encode_with

    model = local_embeddings.model
    few = ["a query", "a longer question about reciprocal rank fusion of two ranked lists"]
    many = [f"text number {i} " * (i % 7 + 1) for i in range(BATCH_SIZE + 3)]
    for texts in ([few[0]], few, many):
        direct = encode_with(model, texts)
        expected = model.encode(texts, normalize_embeddings=True, convert_to_numpy=True)
        assert direct.dtype == np.float32 and direct.shape == (len(texts), 384)
        assert direct == pytest.approx(expected, abs=1e-5)
        assert np.linalg.norm(direct, axis=1) == pytest.approx(np.ones(len(texts)), abs=1e-5)
    assert len(encode_with(model, [])) == 0


def test_direct_queries_beside_document_batches_from_many_threads(local_embeddings):
    """Sessions share one model: a session's query (the direct path) runs while another
    session indexes (`encode`), from a cold start of the threads, several rounds."""
    from concurrent.futures import ThreadPoolExecutor

    from rag.embeddings.local import BATCH_SIZE, encode_with

    model = local_embeddings.model
    query = ["which port does the server listen on"]
    pages = [
        f"page {i} about ports, servers and listening sockets " * (i % 5 + 1) for i in range(BATCH_SIZE + 9)
    ]
    expected = {1: encode_with(model, query), len(pages): encode_with(model, pages)}
    for _ in range(3):
        with ThreadPoolExecutor(8) as pool:
            jobs = [pool.submit(encode_with, model, query if i % 2 else pages) for i in range(16)]
            for job in jobs:
                got = job.result()
                assert got == pytest.approx(expected[len(got)], abs=1e-5)
