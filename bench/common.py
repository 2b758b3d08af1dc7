"""What every benchmark shares: the corpora, serving them over HTTP, a disk cache of vectors.

The documentation comes from Debian packages (python3.11-doc, sqlite3-doc) and is
served by a real HTTP server on loopback, optionally adding latency to every
response the way a remote site would, so it is indexed as web pages.
"""

from __future__ import annotations

import contextlib
import json
import platform
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from rag.embeddings.cache import VectorCache  # noqa: E402
from tests.servers.site import SiteServer  # noqa: E402

RESULTS = ROOT / "bench" / "results"
CACHE = ROOT / "bench" / ".cache"


@dataclass(frozen=True)
class Corpus:
    name: str
    root: Path
    questions: Path
    package: str


CORPORA = {
    "python": Corpus(
        "python",
        Path("/usr/share/doc/python3.11/html"),
        ROOT.parent / "shared" / "eval" / "python-qa.jsonl",
        "python3.11-doc",
    ),
    "sqlite": Corpus(
        "sqlite", Path("/usr/share/doc/sqlite3"), ROOT / "bench" / "data" / "heldout-qa.jsonl", "sqlite3-doc"
    ),
    "git": Corpus(
        "git", Path("/usr/share/doc/git-doc"), ROOT / "bench" / "data" / "heldout2-qa.jsonl", "git-doc"
    ),
}


def corpus(name: str) -> Corpus:
    found = CORPORA[name]
    if not found.root.exists():
        sys.exit(f"{found.root} is missing: install the Debian package {found.package} (./setup.sh does).")
    return found


@contextlib.contextmanager
def serve(c: Corpus, delay: float = 0.0) -> Iterator[SiteServer]:
    with SiteServer(c.root, delay=delay) as server:
        yield server


def page_urls(base: str, c: Corpus) -> list[str]:
    return [f"{base}/{p.relative_to(c.root).as_posix()}" for p in sorted(c.root.rglob("*.html"))]


def load_cache(embedder_id: str) -> VectorCache:
    """A VectorCache filled from bench/.cache, so a rerun embeds only new chunks."""
    cache = VectorCache(max_entries=2_000_000)
    path = CACHE / f"{embedder_id.replace(':', '_')}.npz"
    if path.exists():
        data = np.load(path)
        cache.put_many(embedder_id, [bytes.fromhex(k) for k in data["keys"]], data["vectors"])
    return cache


def save_cache(cache: VectorCache, embedder_id: str) -> None:
    CACHE.mkdir(parents=True, exist_ok=True)
    items = [(k[1], v) for k, v in cache._data.items() if k[0] == embedder_id]
    if items:
        keys = np.array([k.hex() for k, _ in items])
        np.savez(
            CACHE / f"{embedder_id.replace(':', '_')}.npz", keys=keys, vectors=np.stack([v for _, v in items])
        )


def machine() -> dict[str, object]:
    import os

    return {
        "cpus": os.cpu_count(),
        "python": platform.python_version(),
        "machine": platform.machine(),
        "date": time.strftime("%Y-%m-%d"),
    }


def write_result(name: str, data: dict) -> Path:
    RESULTS.mkdir(parents=True, exist_ok=True)
    path = RESULTS / f"{name}.json"
    path.write_text(json.dumps({"machine": machine(), **data}, indent=1))
    return path


def percentile(values: list[float], p: float) -> float:
    return float(np.percentile(np.asarray(values), p)) if values else float("nan")


def corpus_index(name: str = "python", splitter: str = "sections") -> Path:
    """A saved index of a whole manual (bench/.cache/<corpus>-<splitter>.ragidx), built once.

    Built over HTTP like any site; vectors come from the disk cache when an
    earlier benchmark already embedded the same chunks.
    """
    from rag.embeddings.cache import CachedEmbeddings
    from rag.embeddings.local import LocalEmbeddings
    from rag.indexing import build_index
    from rag.loading.fetch import FetchConfig
    from rag.loading.loader import WebLoader
    from rag.splitting import get_splitter

    path = CACHE / f"{name}-{splitter}.ragidx"
    if path.exists():
        return path
    c = corpus(name)
    embedder_id = "local:all-MiniLM-L6-v2"
    cache = load_cache(embedder_id)
    with serve(c) as site:
        store, report = build_index(
            WebLoader(FetchConfig()),
            CachedEmbeddings(LocalEmbeddings(), embedder_id, cache),
            embedder_id,
            urls=page_urls(site.url, c),
            splitter=(splitter, get_splitter(splitter)),
        )
    save_cache(cache, embedder_id)
    print(f"built {path.name}: {report.summary()}")
    return store.save(path)
