"""Hostile index files: what `python -m rag info` costs on each, and what it says.

    nice -n 10 .venv/bin/python bench/hostile_files.py

Each file is crafted in a temporary folder: zip bombs whose one member inflates
to 1.5 GB (documents.json of spaces, index.json padded with whitespace,
vectors.npy of zeros under an honest header), an archive of 100,000 entries,
and, to compare, a real index of 20,000 chunks × 384 dimensions. `rag info`
runs in a child process; its peak RSS comes from getrusage. Floor (issue 11):
each hostile file is refused (exit 1, one sentence) under 300 MB.
"""

from __future__ import annotations

import io
import subprocess
import sys
import tempfile
import time
import zipfile
from pathlib import Path

import numpy as np
from common import ROOT, write_result
from langchain_core.documents import Document

from rag import store
from rag.store import SKLearnStore

GB = 1536 * 2**20  # "1.5 GB", as the issue measured
FLOOR_MB = 300
MEASURE = (
    "import resource, subprocess, sys, time;"
    "t = time.perf_counter();"
    "r = subprocess.run([sys.executable, '-m', 'rag', 'info', sys.argv[1]], capture_output=True, text=True);"
    "print(r.returncode, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss, time.perf_counter() - t);"
    "print((r.stderr or r.stdout).strip().splitlines()[-1])"
)


def info(path: Path) -> dict[str, object]:
    out = subprocess.run(
        [sys.executable, "-c", MEASURE, str(path)], cwd=ROOT, capture_output=True, text=True, timeout=600
    ).stdout.splitlines()
    status, rss_kb, seconds = out[0].split()
    return {
        "file_mb": round(path.stat().st_size / 2**20, 2),
        "exit": int(status),
        "rss_mb": round(int(rss_kb) / 1024, 1),
        "seconds": round(float(seconds), 2),
        "message": out[1][:300],
    }


def members(chunks: int, dims: int) -> dict[str, bytes]:
    """The members of a real index of `chunks` random unit vectors."""

    index = SKLearnStore(None, "local:all-MiniLM-L6-v2", "sections")  # vectors given: no embedder
    rng = np.random.default_rng(0)
    vectors = rng.standard_normal((chunks, dims)).astype(np.float32)
    docs = [
        Document(
            f"Chunk {i}: " + "a sentence of documentation text. " * 24, metadata={"source": f"http://d/{i}"}
        )
        for i in range(chunks)
    ]
    index.add_vectors(docs, vectors)
    with tempfile.TemporaryDirectory() as folder:
        path = index.save(Path(folder) / "real.ragidx")
        with zipfile.ZipFile(path) as zf:
            return {name: zf.read(name) for name in zf.namelist()}


def bomb(path: Path, base: dict[str, bytes], member: str, prefix: bytes, suffix: bytes) -> Path:
    """`member` becomes prefix + 1.5 GB of spaces + suffix, deflated at level 9 a block at a time."""
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as zf:
        for name, data in base.items():
            if name != member:
                zf.writestr(name, data)
        with zf.open(member, "w") as out:
            out.write(prefix)
            block = b" " * 2**22
            for _ in range(GB // len(block)):
                out.write(block)
            out.write(suffix)
    return path


def zero_vectors(path: Path, base: dict[str, bytes]) -> Path:
    rows = GB // (384 * 4)
    header = io.BytesIO()
    np.lib.format.write_array_header_1_0(
        header, {"descr": "<f4", "fortran_order": False, "shape": (rows, 384)}
    )
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as zf:
        for name in ("index.json", "documents.json"):
            zf.writestr(name, base[name])
        with zf.open("vectors.npy", "w") as out:
            out.write(header.getvalue())
            zeros = bytes(2**22)
            for _ in range(rows * 384 * 4 // len(zeros)):
                out.write(zeros)
    return path


def many_entries(path: Path, base: dict[str, bytes]) -> Path:
    with zipfile.ZipFile(path, "w") as zf:
        for name, data in base.items():
            zf.writestr(name, data)
        for i in range(100_000):
            zf.writestr(f"pad/{i}", b"")
    return path


def main() -> None:
    small, real = members(3, 384), members(20_000, 384)
    results = {}
    with tempfile.TemporaryDirectory() as folder:
        tmp = Path(folder)
        files = {
            "documents-json-bomb": lambda: bomb(tmp / "docs.ragidx", small, "documents.json", b"[", b"]"),
            "whitespace-index-json": lambda: bomb(
                tmp / "ws.ragidx", small, "index.json", small["index.json"], b""
            ),
            "zero-vectors": lambda: zero_vectors(tmp / "zeros.ragidx", small),
            "many-entries": lambda: many_entries(tmp / "many.ragidx", small),
        }
        for name, make in files.items():
            t0 = time.perf_counter()
            path = make()
            built = time.perf_counter() - t0
            results[name] = {**info(path), "inflates_mb": _inflated_mb(path), "build_s": round(built, 1)}
            path.unlink()
            print(name, results[name], flush=True)
        real_path = tmp / "real.ragidx"
        with zipfile.ZipFile(real_path, "w", zipfile.ZIP_DEFLATED) as zf:
            for name, data in real.items():
                zf.writestr(name, data)
        results["real-20k-chunks"] = {**info(real_path), "inflates_mb": _inflated_mb(real_path)}
        print("real-20k-chunks", results["real-20k-chunks"], flush=True)
    hostile = [r for name, r in results.items() if not name.startswith("real")]
    floor = all(r["exit"] == 1 and r["rss_mb"] < FLOOR_MB for r in hostile)
    floor = floor and results["real-20k-chunks"]["exit"] == 0
    print(f"floor (every hostile file refused under {FLOOR_MB} MB, the real one read): {floor}")
    limits = {
        "max_ratio": store.MAX_RATIO,
        "ratio_checked_above_mb": store.SMALL_MEMBER // 2**20,
        "max_inflated_mb": store.MAX_INFLATED // 2**20,
        "max_entries": store.MAX_ENTRIES,
        "json_base_mb": store.JSON_BASE // 2**20,
        "documents_per_chunk_kb": store.DOC_PER_CHUNK // 2**10,
    }
    write_result(
        "hostile-files", {"floor_rss_mb": FLOOR_MB, "floor_met": floor, "limits": limits, "files": results}
    )


def _inflated_mb(path: Path) -> float:
    with zipfile.ZipFile(path) as zf:
        return round(sum(i.file_size for i in zf.infolist()) / 2**20, 1)


if __name__ == "__main__":
    sys.exit(main())
