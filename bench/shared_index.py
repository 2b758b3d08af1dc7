"""Memory of a room on the leader's index (RAG_INDEX): 30 app sessions, one copy of the index.

    .venv/bin/python bench/shared_index.py [--sessions 30]

Each session is a real Streamlit session (AppTest, the app's own pages) that
opens the Chat page with RAG_INDEX set, so it starts on the shared index, and
the process's resident memory (RSS) is read at 1, 10 and 30 sessions. Two
indexes: the sample guide (what a workshop uses) and a large one (the sample
guide's chunks repeated to 20,000, with jittered vectors) whose size would show
in every session if sessions copied it. As the control, sessions that each load
their own copy of the large index file (what the Load button does) are measured
the same way. Results: bench/results/shared-index.json.

`sample_index_file(folder)` builds and saves the sample-guide index, for other
benchmarks that start `streamlit run` with RAG_INDEX.
"""

from __future__ import annotations

import argparse
import contextlib
import ctypes
import gc
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from common import ROOT, write_result

sys.path.insert(0, str(ROOT))

from rag.embeddings import CachedEmbeddings
from rag.embeddings.local import LocalEmbeddings
from rag.indexing import build_index
from rag.loading.fetch import FetchConfig
from rag.loading.loader import WebLoader
from rag.splitting import get_splitter
from rag.store import SKLearnStore
from tests.servers.site import SiteServer

EMBEDDER = "local:all-MiniLM-L6-v2"
CHECKPOINTS = (1, 10, 30)
LARGE_CHUNKS = 20_000


def settle() -> None:
    """Collect garbage and hand freed heap back to the OS, so RSS shows what is still held."""
    gc.collect()
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL("libc.so.6").malloc_trim(0)


def rss_mb(pid: int | None = None) -> float:
    """Resident memory of a process (this one by default), in MB, from /proc."""
    for line in Path(f"/proc/{pid or 'self'}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmRSS in /proc")


def sample_index_file(folder: Path) -> Path:
    """The sample guide, indexed over HTTP on loopback and saved as folder/sample-guide.ragidx."""
    with SiteServer(ROOT / "sample_docs") as site:
        store, _ = build_index(
            WebLoader(FetchConfig()),
            CachedEmbeddings(LocalEmbeddings(), EMBEDDER),
            EMBEDDER,
            crawl=f"{site.url}/index.html",
            max_pages=20,
            splitter=("sections", get_splitter("sections")),
        )
    return store.save(folder / "sample-guide.ragidx")


def large_index_file(sample: Path, folder: Path) -> Path:
    """The sample guide's chunks repeated to LARGE_CHUNKS, vectors jittered so none repeat."""
    base = SKLearnStore.load(sample, LocalEmbeddings(), EMBEDDER)
    rng = np.random.default_rng(0)
    rows = np.arange(LARGE_CHUNKS) % len(base)
    vectors = base.vectors[rows] + rng.normal(0, 0.01, (LARGE_CHUNKS, base.info.dims)).astype(np.float32)
    large = SKLearnStore(base.embeddings, EMBEDDER, base.info.splitter)
    large.add_vectors([base.documents[r] for r in rows], vectors)
    large.add_pages((p["url"], p["title"]) for p in base.info.pages)
    return large.save(folder / "large.ragidx")


def session(page: str = "pages/chat.py"):
    from streamlit.testing.v1 import AppTest

    at = AppTest.from_file(str(ROOT / "streamlit_app.py"), default_timeout=120)
    at.run()
    if page != "pages/chat.py":
        at.switch_page(page).run()
    if at.exception:
        raise RuntimeError(f"the app failed: {[e.value for e in at.exception]}")
    return at


def measure(path: Path | None, sessions: int, *, copies: bool = False) -> dict:
    """Open `sessions` sessions (on the shared index at `path`, or each loading its own copy)."""
    os.environ["RAG_INDEX"] = "" if copies or path is None else str(path)
    held, points = [], {}
    settle()
    before = rss_mb()
    started = time.perf_counter()
    for n in range(1, sessions + 1):
        at = session()
        if copies:
            at.switch_page("pages/index.py").run()
            at.file_uploader(key="index_file").set_value((path.name, path.read_bytes(), "application/zip"))
            at.run()
            at.button(key="load_index").click().run()
        built = at.session_state["index"] if "index" in at.session_state else None  # noqa: SIM401 (AppTest's state has no get)
        if path is not None and built is None and not copies:
            from pages.common.state import shared_index

            built = shared_index(str(path))
        held.append((at, built))
        if n in CHECKPOINTS or n == sessions:
            settle()
            points[n] = round(rss_mb() - before, 1)
    stores = {id(b.store) for _, b in held if b is not None}
    first = points[min(points)]
    per_session = (points[sessions] - first) / (sessions - 1) if sessions > 1 else 0.0
    return {
        "sessions": sessions,
        "rss_growth_mb": points,
        "per_extra_session_mb": round(per_session, 2),
        "distinct_index_objects": len(stores),
        "seconds": round(time.perf_counter() - started, 1),
    }


def index_size(path: Path) -> dict:
    store = SKLearnStore.load(path, LocalEmbeddings(), EMBEDDER)
    text = sum(len(d.page_content) for d in store.documents)
    return {
        "file_mb": round(path.stat().st_size / 2**20, 2),
        "chunks": len(store),
        "vectors_mb": round(store.vectors.nbytes / 2**20, 2),
        "text_mb": round(text / 2**20, 2),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sessions", type=int, default=30)
    parser.add_argument("--copies", type=int, default=10, help="sessions in the copy-per-session control")
    args = parser.parse_args()
    os.environ.setdefault("DEPLOY_STATE_DIR", tempfile.mkdtemp(prefix="bench-deploy-"))
    with tempfile.TemporaryDirectory() as folder:
        sample = sample_index_file(Path(folder))
        large = large_index_file(sample, Path(folder))
        os.environ["RAG_INDEX"] = str(sample)
        session()  # warm up: the embedder, the model target, Streamlit's imports, outside every measurement
        rss_start = rss_mb()
        results = {
            "no_index": measure(None, args.sessions),
            "shared_sample": measure(sample, args.sessions),
            "shared_large": measure(large, args.sessions),
            "copies_large": measure(large, args.copies, copies=True),
        }
        data = {
            "rss_after_warm_up_mb": round(rss_start, 1),
            "indexes": {"sample": index_size(sample), "large": index_size(large)},
            "results": results,
        }
    print(write_result("shared-index", data))
    for name, r in results.items():
        print(f"{name}: +{r['rss_growth_mb']} MB; {r['per_extra_session_mb']} MB per extra session")


if __name__ == "__main__":
    main()
