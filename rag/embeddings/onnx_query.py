"""Queries through ONNX Runtime: the same MiniLM, exported once from the packaged weights.

A query is one short text on the retrieval floor's clock (docs/benchmarks.md, latency):
ONNX Runtime runs MiniLM on it in about half PyTorch's time. Document batches stay on
PyTorch, which is as fast there. The graph is exported by PyTorch's own exporter
(`torch.onnx.export`, torch.export-based), in a child process (the exporter patches the
model it traces), into the cache folder once per model version, torch and onnxruntime
version, written atomically (two processes exporting at once each rename a whole file),
and checked against PyTorch before any query uses it. A graph in the cache is opened when
the model loads; a missing one is exported while queries run on PyTorch (`setup.sh` and the
Dockerfile export it ahead). Anything missing or
wrong leaves queries on PyTorch: slower, never different.
"""

from __future__ import annotations

import copy
import logging
import os
import subprocess
import sys
import tempfile
import threading
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from ..settings import cache_folder

log = logging.getLogger(__name__)

# Texts whose vectors must match PyTorch's before a session is used (one pads the other).
PROBES = [
    "What does the with statement do?",
    "How do I configure a reverse proxy with TLS client certificates?",
]
EXPORT_TIMEOUT = 600.0  # seconds for the child process; 14-20 s on 2 cores
TOLERANCE = 1e-4  # float32 kernels differ near 1e-7; a wrong graph is off by far more


class OnnxQueries:
    """`encode(texts)` → unit-length float32 rows, from an ONNX Runtime session."""

    def __init__(self, session: Any, tokenizer: Any, max_length: int) -> None:
        self.session = session
        # Its own copy, used under a lock: a fast tokenizer called from two threads at once
        # can fail with "Already borrowed", and document batches use the model's own.
        self.tokenizer = copy.deepcopy(tokenizer)
        self.max_length = max_length
        self.inputs = [i.name for i in session.get_inputs()]
        self._lock = threading.Lock()

    def encode(self, texts: list[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, 0), dtype=np.float32)
        with self._lock:
            batch = self.tokenizer(
                texts, padding=True, truncation=True, max_length=self.max_length, return_tensors="np"
            )
        feed = {name: np.asarray(batch[name], dtype=np.int64) for name in self.inputs}
        return np.asarray(self.session.run(None, feed)[0], dtype=np.float32)


def onnx_file(model: Any, name: str, cache_dir: str = "", version: str = "") -> Path:
    """Where this model's graph lives: one file per model (and its package version), torch
    and onnxruntime version and sequence length."""
    import onnxruntime
    import torch

    folder = cache_folder(cache_dir) / "onnx"
    stamp = f"{version}-torch{torch.__version__}-ort{onnxruntime.__version__}-len{model.max_seq_length}"
    return folder / f"{name}-{stamp}.onnx".replace("+", "_")


def _pooled(model: Any) -> Any:
    """The model's transformer with mean pooling and normalisation, as one module."""
    import torch

    transformer = model[0].auto_model

    class Pooled(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.transformer = transformer

        def forward(self, input_ids: Any, attention_mask: Any, token_type_ids: Any) -> Any:
            hidden = self.transformer(
                input_ids=input_ids, attention_mask=attention_mask, token_type_ids=token_type_ids
            ).last_hidden_state
            mask = attention_mask.unsqueeze(-1).to(hidden.dtype)
            mean = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1e-9)
            return torch.nn.functional.normalize(mean, dim=1)

    return Pooled().eval()


def export_here(model: Any, path: Path) -> Path:
    """Write the pooled graph to `path` atomically (a temp file beside it, then a rename).

    Only in a process of its own (`export`): while tracing, torch's exporter swaps fake
    tensors into the module's weights and patches builtins, which breaks any other thread
    using the same model, and it silences warnings and loggers process-wide."""
    import torch

    example = model.tokenizer(PROBES, padding=True, return_tensors="pt")
    batch, length = torch.export.Dim("batch", min=1, max=1024), torch.export.Dim("length", min=1, max=512)
    args = tuple(example[k] for k in ("input_ids", "attention_mask", "token_type_ids"))
    warnings.simplefilter("ignore")  # the exporter's notes on axis names and deprecations
    for logger in ("torch.onnx", "torch.export", "torch._dynamo"):
        logging.getLogger(logger).setLevel(logging.ERROR)
    program = torch.onnx.export(
        _pooled(model), args, dynamo=True, verbose=False, optimize=True,
        input_names=["input_ids", "attention_mask", "token_type_ids"],
        output_names=["sentence_embedding"], dynamic_shapes=({0: batch, 1: length},) * 3,
    )  # fmt: skip
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=path.name, suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as out:
            out.write(program.model_proto.SerializeToString())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def export(name: str, path: Path, timeout: float = EXPORT_TIMEOUT) -> Path:
    """Export `name`'s graph to `path` in a child process (see `export_here`)."""
    root = str(Path(__file__).resolve().parents[2])
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [root, os.environ.get("PYTHONPATH")]))}
    command = [sys.executable, "-m", "rag.embeddings.onnx_query", name, str(path)]
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=timeout, check=False)
    if done.returncode != 0 or not path.exists():
        last = (done.stderr.strip().splitlines() or ["no output"])[-1]
        raise RuntimeError(f"the export exited with {done.returncode}: {last}")
    return path


def open_session(model: Any, path: Path, reference: Callable[[list[str]], Any]) -> OnnxQueries | None:
    """A session on `path` if its vectors match `reference`'s; a file that does not load, or
    disagrees, is removed (a failure of the reference itself removes nothing)."""
    import onnxruntime

    try:
        options = onnxruntime.SessionOptions()
        options.log_severity_level = 3
        session = onnxruntime.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
        queries = OnnxQueries(session, model.tokenizer, model.max_seq_length)
        vectors = queries.encode(PROBES)
    except Exception as exc:  # a truncated or foreign file: export again next time
        log.warning("ONNX query graph %s unusable (%s); queries stay on PyTorch", path, exc)
        path.unlink(missing_ok=True)
        return None
    gap = float(np.abs(vectors - np.asarray(reference(PROBES))).max())
    if gap > TOLERANCE:
        log.warning("ONNX query graph %s differs from PyTorch by %.2g; removed", path, gap)
        path.unlink(missing_ok=True)
        return None
    return queries


def _writable(folder: Path) -> None:
    """Raise OSError unless a file can be written in `folder` (before minutes of export)."""
    folder.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryFile(dir=folder):
        pass


def prepare(
    model: Any, name: str, reference: Callable[[list[str]], Any], cache_dir: str = "", version: str = ""
) -> OnnxQueries | None:
    """The ONNX queries for `model`, exporting the graph first if the cache lacks it;
    None where onnxruntime or the exporter is missing or fails (queries stay on PyTorch)."""
    try:
        path = onnx_file(model, name, cache_dir, version)
        if not path.exists():
            _writable(path.parent)
            export(name, path)
    except Exception as exc:  # ImportError, an exporter failure, a read-only cache
        log.warning("No ONNX query graph for %s (%s); queries stay on PyTorch", name, exc)
        return None
    try:
        return open_session(model, path, reference)
    except Exception as exc:  # the reference (PyTorch) failed: try again next start
        log.warning("ONNX query graph %s not checked (%s); queries stay on PyTorch", path, exc)
        return None


def cached(model: Any, name: str, cache_dir: str = "", version: str = "") -> bool:
    """Whether the graph is in the cache already (opening it takes a fraction of a second)."""
    try:
        return onnx_file(model, name, cache_dir, version).exists()
    except (ImportError, OSError):
        return False


class QueryEncoder:
    """What the query batcher calls: ONNX Runtime once its session is ready, PyTorch until then
    (and for good where there is none)."""

    def __init__(self, fallback: Callable[[list[str]], Any]) -> None:
        self._fallback = fallback
        self._onnx: OnnxQueries | None = None
        self._thread: threading.Thread | None = None

    def load(self, ready: Callable[[], OnnxQueries | None], *, background: bool) -> None:
        """Open the session now, or on a thread (an export takes seconds: no one waits for it)."""
        if not background:
            self._onnx = ready()
            return
        self._thread = threading.Thread(target=self._load, args=(ready,), name="onnx-queries", daemon=True)
        self._thread.start()

    def _load(self, ready: Callable[[], OnnxQueries | None]) -> None:
        self._onnx = ready()

    def wait(self, timeout: float | None = None) -> str:
        """The runtime in use once any background load has finished (benchmarks wait for it)."""
        if self._thread is not None:
            self._thread.join(timeout)
        return self.runtime

    @property
    def runtime(self) -> str:
        return "onnx" if self._onnx is not None else "torch"

    def __call__(self, texts: list[str]) -> Any:
        onnx = self._onnx
        return onnx.encode(texts) if onnx is not None else self._fallback(texts)


def main(argv: list[str]) -> None:
    """`python -m rag.embeddings.onnx_query NAME PATH`: the child process `export` runs."""
    from .local import load_model

    name, path = argv
    export_here(load_model(name), Path(path))


if __name__ == "__main__":
    main(sys.argv[1:])
