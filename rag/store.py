"""The vector store: scikit-learn nearest neighbours behind LangChain's VectorStore.

It does what the notebook's `SKLearnVectorStore` does (exact brute-force nearest
neighbours by cosine similarity, as `sklearn.neighbors.NearestNeighbors` computes them) on top
of the maintained `langchain-core` interface, and adds what a workshop needs: one index file with
its metadata (which embedder built it, splitter, sources, counts), written
atomically so a failed save never leaves a corrupt file, and a refusal to query
with an embedder other than the one that built it. Reading takes a file from
anyone (an upload on a shared instance): its declared sizes are checked against
limits derived from the file before anything is inflated, and every part is
checked, so a bad file is one sentence naming it, never a traceback or a bomb.
"""

from __future__ import annotations

import io
import json
import os
import tempfile
import threading
import time
import uuid
import zipfile
import zlib
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, BinaryIO, NamedTuple

import numpy as np
from langchain_core.documents import Document
from langchain_core.embeddings import Embeddings
from langchain_core.vectorstores import VectorStore

from .embeddings.cache import embed_array
from .errors import EmbedderMismatch, IndexFileError

FORMAT = "workshop-rag-index"
SHORTLIST_MARGIN = 16  # rows past 2k that float32 rounding (~1e-7) could still reorder
SHORTLIST_SLACK = 1e-5  # float32 products of equal float64 distance differ by less
VERSION = 1


@dataclass
class IndexInfo:
    embedder: str
    splitter: str = ""
    dims: int = 0
    chunks: int = 0
    pages: list[dict[str, str]] = field(default_factory=list)  # [{"url", "title"}]
    created: float = field(default_factory=time.time)

    @property
    def page_count(self) -> int:
        return len(self.pages)


class SKLearnStore(VectorStore):
    """Chunks and their float32 unit vectors, searched exactly by cosine similarity."""

    def __init__(self, embedding: Embeddings, embedder_id: str, splitter: str = "") -> None:
        self._embedding = embedding
        self.info = IndexInfo(embedder=embedder_id, splitter=splitter)
        self.documents: list[Document] = []
        self.ids: list[str] = []
        self._vectors = np.zeros((0, 0), dtype=np.float32)
        self._pending: list[np.ndarray] = []
        self._outlines: dict[str, np.ndarray] = {}  # each page's outline vector (rag/outlines.py)
        self._generation = 0  # counts the changes of chunks, so outlines embedded meanwhile are dropped
        self._lock = threading.RLock()

    @property
    def embeddings(self) -> Embeddings:
        return self._embedding

    @property
    def vectors(self) -> np.ndarray:
        with self._lock:
            if self._pending:
                parts = [self._vectors, *self._pending] if len(self._vectors) else self._pending
                self._vectors = np.vstack(parts).astype(np.float32, copy=False)
                self._pending = []
            return self._vectors

    def __len__(self) -> int:
        return len(self.documents)

    # Adding -----------------------------------------------------------------

    def add_vectors(
        self, docs: Sequence[Document], vectors: np.ndarray, ids: Sequence[str | None] | None = None
    ) -> list[str]:
        """Add chunks whose vectors are already computed (the indexing pipeline's path).

        A chunk whose id the store holds already replaces it; chunks without an id get one."""
        if len(docs) != len(vectors) or (ids is not None and len(ids) != len(docs)):
            raise ValueError("one vector (and one id, if any) per document")
        if not len(docs):
            return []
        vectors = unit_rows(np.asarray(vectors, dtype=np.float32))
        with self._lock:
            if self.info.dims and vectors.shape[1] != self.info.dims:
                raise EmbedderMismatch(
                    f"These vectors have {vectors.shape[1]} dimensions; the index has {self.info.dims}.",
                    "Build a new index with this embedder.",
                )
            self.info.dims = int(vectors.shape[1])
            ids = [i or str(uuid.uuid4()) for i in (ids or [None] * len(docs))]
            self._remove(set(ids))
            self.documents.extend(docs)
            self.ids.extend(ids)
            self._pending.append(vectors)
            self.info.chunks = len(self.documents)
            self._changed({page_of(d, -1) for d in docs})  # their outlines are embedded again
            return ids

    def _remove(self, gone: set[str]) -> None:
        """Under the lock: drop the chunks with these ids."""
        keep = [row for row, i in enumerate(self.ids) if i not in gone]
        if len(keep) == len(self.ids):
            return
        self._vectors = self.vectors[keep]
        gone_pages = {page_of(self.documents[row], row) for row, i in enumerate(self.ids) if i in gone}
        self.documents = [self.documents[row] for row in keep]
        self.ids = [self.ids[row] for row in keep]
        self.info.chunks = len(self.documents)
        self._changed(gone_pages)

    def delete(self, ids: list[str] | None = None, **kwargs: Any) -> bool:
        """Drop the chunks with these ids (every chunk if None); unknown ids are ignored."""
        with self._lock:
            self._remove(set(self.ids if ids is None else ids))
        return True

    def get_by_ids(self, ids: Sequence[str], /) -> list[Document]:
        """The chunks with these ids, in that order; unknown ids are left out."""
        with self._lock:
            rows = {i: row for row, i in enumerate(self.ids)}
            return [self._with_id(rows[i]) for i in ids if i in rows]

    def _with_id(self, row: int) -> Document:
        """The chunk at `row` as LangChain returns it: a copy that carries its id."""
        return self.documents[row].model_copy(update={"id": self.ids[row]})

    def order_pages(self, start: int, urls: Sequence[str]) -> None:
        """Rows from `start` on grouped by page in the order of `urls` (each page's chunks keep
        their order; a page not named goes last), so a search's ties break the same way in
        every build of the same pages."""
        rank = {url: i for i, url in enumerate(urls)}
        with self._lock:
            tail = sorted(
                range(start, len(self.documents)),
                key=lambda row: rank.get(self.documents[row].metadata.get("url", ""), len(rank)),
            )
            order = [*range(start), *tail]
            if order == list(range(len(order))):
                return
            self._vectors = self.vectors[order]
            self.documents = [self.documents[row] for row in order]
            self.ids = [self.ids[row] for row in order]

    @property
    def generation(self) -> int:
        """Changes when chunks are added or removed (not when they are reordered)."""
        with self._lock:
            return self._generation

    def _changed(self, pages: Iterable[str]) -> None:
        """Under the lock: these pages' chunks changed; their outlines are no longer theirs."""
        self._generation += 1
        # a chunk without a URL is a page keyed by its row, and rows move: drop those too
        for page in [*pages, *(key for key in self._outlines if key.startswith("#"))]:
            self._outlines.pop(page, None)

    def outlines_for(self, pages: Iterable[str]) -> dict[str, np.ndarray]:
        """The outline vectors kept for those of these pages that have one."""
        with self._lock:
            return {page: self._outlines[page] for page in pages if page in self._outlines}

    def keep_outlines(self, vectors: dict[str, np.ndarray], generation: int) -> bool:
        """Keep page outline vectors (the file carries them, so a search that loads it does not
        embed them again), unless chunks changed since `generation`, when they were read."""
        with self._lock:
            if generation != self._generation:
                return False
            self._outlines.update(vectors)
            return True

    def add_pages(self, pages: Iterable[tuple[str, str]]) -> None:
        known = {p["url"] for p in self.info.pages}
        for url, title in pages:
            if url not in known:
                self.info.pages.append({"url": url, "title": title})
                known.add(url)

    def add_texts(
        self,
        texts: Iterable[str],
        metadatas: list[dict] | None = None,
        *,
        ids: list[str] | None = None,
        **kwargs: Any,
    ) -> list[str]:
        texts = list(texts)
        metadatas = metadatas or [{} for _ in texts]
        docs = [Document(page_content=t, metadata=m) for t, m in zip(texts, metadatas, strict=True)]
        return self.add_vectors(docs, embed_array(self._embedding, texts), ids)

    @classmethod
    def from_texts(
        cls,
        texts: list[str],
        embedding: Embeddings,
        metadatas: list[dict] | None = None,
        *,
        embedder_id: str = "unknown",
        **kwargs: Any,
    ) -> SKLearnStore:
        store = cls(embedding, embedder_id)
        store.add_texts(texts, metadatas)
        return store

    # Searching --------------------------------------------------------------

    def search_vector(self, vector: np.ndarray, k: int) -> list[tuple[int, float]]:
        """(row, cosine similarity) of the k nearest chunks, nearest first.

        The order is scikit-learn's brute-force Euclidean search's (the notebook's store), found
        without its thread pool, which fought the query embedder's for the cores (p95 49 ms on
        2 cores, docs/decisions.md): a float32 product shortlists, float64 distances order."""
        vectors = self.vectors  # one snapshot: chunks added meanwhile wait for the next search
        if not len(vectors):
            return []
        query = self._query(vector)
        k = min(k, len(vectors))
        if k <= 0:
            return []
        rough = np.einsum("ij,j->i", vectors, query)  # numpy's own loop: no BLAS threads
        wide = min(len(vectors), 2 * k + SHORTLIST_MARGIN)
        # every row scoring near the wide-th best, so rows tied there all get their chance
        cutoff = np.partition(rough, len(rough) - wide)[len(rough) - wide] - SHORTLIST_SLACK
        rows = np.flatnonzero(rough >= cutoff)
        near = vectors[rows].astype(np.float64)
        q = query.astype(np.float64)
        squared = np.einsum("ij,ij->i", near, near) - 2.0 * np.einsum("ij,j->i", near, q) + q @ q
        best = np.argsort(np.maximum(squared, 0.0), kind="stable")[:k]
        return [(int(rows[i]), float(1.0 - max(squared[i], 0.0) / 2.0)) for i in best]

    def similarities(self, vector: np.ndarray) -> np.ndarray:
        """Every chunk's cosine similarity to `vector` (float32, in store order), computed
        without BLAS threads as search_vector's shortlist is."""
        return np.einsum("ij,j->i", self.vectors, self._query(vector))

    def _query(self, vector: np.ndarray) -> np.ndarray:
        query = unit_rows(np.asarray(vector, dtype=np.float32).reshape(1, -1))[0]
        if len(query) != self.info.dims:
            raise EmbedderMismatch(
                f"The query vector has {len(query)} dimensions; the index has {self.info.dims}.",
                f"Query this index with the embedder that built it ({self.info.embedder}).",
            )
        return query

    def similarity_search_with_score(
        self, query: str, k: int = 4, **kwargs: Any
    ) -> list[tuple[Document, float]]:
        vector = np.asarray(self._embedding.embed_query(query), dtype=np.float32)
        return [(self._with_id(r), s) for r, s in self.search_vector(vector, k)]

    def similarity_search(self, query: str, k: int = 4, **kwargs: Any) -> list[Document]:
        return [doc for doc, _ in self.similarity_search_with_score(query, k)]

    def _select_relevance_score_fn(self):  # cosine similarity is already in [-1, 1]
        return lambda score: (score + 1.0) / 2.0

    # Files ------------------------------------------------------------------

    def save(self, path: str | os.PathLike) -> Path:
        """Write the index atomically: a temp file beside the target, then a rename."""
        target = Path(path)
        target.parent.mkdir(parents=True, exist_ok=True)
        payload = {
            "format": FORMAT,
            "version": VERSION,
            "info": asdict(self.info),
        }
        docs = [
            {"id": i, "text": d.page_content, "metadata": d.metadata}
            for i, d in zip(self.ids, self.documents, strict=True)
        ]
        buffer = io.BytesIO()
        np.save(buffer, self.vectors, allow_pickle=False)
        pages = list(pages_of(self.documents))
        kept = self.outlines_for(pages)
        outlines = np.stack([kept[page] for page in pages]) if pages and len(kept) == len(pages) else None
        fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
        try:
            with os.fdopen(fd, "wb") as raw, zipfile.ZipFile(raw, "w", zipfile.ZIP_DEFLATED) as zf:
                zf.writestr("index.json", json.dumps(payload, indent=1))
                zf.writestr("documents.json", json.dumps(docs, ensure_ascii=False))
                zf.writestr("vectors.npy", buffer.getvalue())
                if outlines is not None:  # only when every page has one: one row a page
                    kept = io.BytesIO()
                    np.save(kept, outlines, allow_pickle=False)
                    zf.writestr(OUTLINES, kept.getvalue())
            os.replace(tmp, target)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        return target

    @classmethod
    def load(
        cls,
        source: str | os.PathLike | bytes,
        embedding: Embeddings,
        embedder_id: str,
        *,
        name: str | None = None,
    ) -> SKLearnStore:
        """Open an index file (a path, or its bytes); refuse it if another embedder built it.

        `name` is what messages call the file (an upload's own name); the path's name by default.
        """
        return cls.from_index(
            read_index(source, name=name), embedding, embedder_id, name=name or _label(source)
        )

    @classmethod
    def from_index(
        cls, parts: IndexParts, embedding: Embeddings, embedder_id: str, *, name: str = "The index"
    ) -> SKLearnStore:
        """A store from what `read_index` returned, so a caller that read the info first reads once."""
        info, docs, ids, vectors, outlines = parts
        if info.embedder != embedder_id:
            raise EmbedderMismatch(
                f"{name} was built with {info.embedder}, not {embedder_id}.",
                f"Query it with the same embedder (--embeddings {info.embedder.split(':')[0]}), "
                "or rebuild the index.",
            )
        store = cls(embedding, embedder_id, info.splitter)
        store.info = info
        store.documents, store.ids = docs, ids
        store._vectors = vectors
        if outlines is not None:
            store._outlines = dict(zip(pages_of(docs), outlines, strict=True))
        return store


# Reading index files ------------------------------------------------------------
#
# An index file can come from anyone (the Index page takes uploads on a shared
# instance), so every size it declares is checked against limits derived from
# the file itself before anything is inflated, and every read is capped in case
# a declared size lies.


class IndexParts(NamedTuple):
    info: IndexInfo
    documents: list[Document]
    ids: list[str]
    vectors: np.ndarray
    outlines: np.ndarray | None  # one a page (pages_of's order), when the file has them


MEMBERS = ("index.json", "documents.json", "vectors.npy")
OUTLINES = "outlines.npy"  # optional: each page's outline vector (rag/outlines.py)
MAX_ENTRIES = 16  # entries in the archive; ours has 3 or 4
MAX_INFLATED = 2**30  # the members inflated, together
MAX_RATIO = 50  # inflated ÷ compressed, for a member above SMALL_MEMBER (JSON deflates ~4x, vectors ~1.1x)
SMALL_MEMBER = 16 * 2**20
MAX_DIMS = 16_384
JSON_BASE = 2**20  # index.json and documents.json may hold this much, plus per chunk:
INFO_PER_CHUNK = 4 * 2**10  # the page list
DOC_PER_CHUNK = 64 * 2**10  # a chunk's text and metadata (chunks are a few KB)
NPY_HEAD = 64 * 2**10
BLOCK = 2**20
REBUILD = "Rebuild it with `python -m rag index ... --save PATH`, or use the Save button."
INFO_FIELDS: dict[str, type | tuple[type, ...]] = {
    "embedder": str,
    "splitter": str,
    "dims": int,
    "chunks": int,
    "pages": list,
    "created": (int, float),
}


def _label(source: str | os.PathLike | bytes) -> str:
    return "The uploaded index file" if isinstance(source, bytes | bytearray) else Path(source).name


def _mb(size: int) -> str:
    return f"{size / 2**20:,.1f} MB"


def read_index(source: str | os.PathLike | bytes, *, name: str | None = None) -> IndexParts:
    """Read and check an index file (a path, or its bytes) without needing its embedder.

    `name` is what messages call the file (an upload's own name); the path's name by default.
    """
    label = name or _label(source)
    try:
        handle = io.BytesIO(source) if isinstance(source, bytes | bytearray) else open(source, "rb")  # noqa: SIM115
    except FileNotFoundError:
        raise IndexFileError(
            f"No index at {source}.", "Build one with `python -m rag index ... --save PATH`."
        ) from None
    except OSError as exc:
        raise IndexFileError(f"Cannot read {label} ({exc.strerror}).", "Check the path.") from None
    try:
        with handle:
            size = _check_entries(handle, label)
            with zipfile.ZipFile(handle) as zf:
                return _read_members(zf, label, size)
    except (zipfile.BadZipFile, zlib.error, EOFError, OSError, ValueError) as exc:
        raise IndexFileError(
            f"{label} is damaged or not an index file ({type(exc).__name__}).", REBUILD
        ) from None


def _check_entries(handle: BinaryIO, label: str) -> int:
    """The archive's size; refuses one with many entries before zipfile parses them all."""
    size = handle.seek(0, os.SEEK_END)
    handle.seek(max(0, size - 65_557))  # the end record (22 bytes) and its longest comment
    tail = handle.read()
    at = tail.rfind(b"PK\x05\x06")
    if at < 0 or len(tail) < at + 22:
        raise zipfile.BadZipFile("no end of central directory")
    entries = int.from_bytes(tail[at + 10 : at + 12], "little")
    if entries > MAX_ENTRIES:  # 0xFFFF (zip64) included: an index never needs it
        many = f"{entries:,}" if entries < 0xFFFF else "65,535 or more"
        raise IndexFileError(f"{label} holds {many} entries; an index file holds 3 or 4.", REBUILD)
    handle.seek(0)
    return size


def _read_members(zf: zipfile.ZipFile, label: str, archive_size: int) -> IndexParts:
    """The small parts first (the vectors' header, index.json), so a foreign file is named as
    such before its vectors are read."""
    members = _check_directory(zf, label, archive_size)
    head = _npy_header(zf, members["vectors.npy"], label)
    rows = head.shape[0]
    info = _parse_info(_read_json(zf, members["index.json"], JSON_BASE + INFO_PER_CHUNK * rows, label), label)
    raw_docs = _read_json(zf, members["documents.json"], JSON_BASE + DOC_PER_CHUNK * rows, label)
    docs, ids = _parse_documents(raw_docs, label)
    if not (len(docs) == rows == info.chunks):
        raise IndexFileError(
            f"{label} is inconsistent ({len(docs)} chunks, {rows} vectors, {info.chunks} in its info).",
            REBUILD,
        )
    if rows and head.shape[1] != info.dims:
        raise IndexFileError(
            f"{label} has {head.shape[1]}-dimensional vectors but says {info.dims}.", REBUILD
        )
    outlines = _read_outlines(zf, members.get(OUTLINES), len(pages_of(docs)), info.dims, label)
    return IndexParts(info, docs, ids, _read_vectors(zf, members["vectors.npy"], head, label), outlines)


def _read_outlines(
    zf: zipfile.ZipFile, member: zipfile.ZipInfo | None, pages: int, dims: int, label: str
) -> np.ndarray | None:
    """The page outlines, if the file has them: one vector a page, as wide as the chunks'."""
    if member is None:
        return None
    head = _npy_header(zf, member, label)
    if head.shape != (pages, dims):
        raise IndexFileError(
            f"{label} is inconsistent ({head.shape[0]} page outlines of {head.shape[1]} dimensions "
            f"for {pages} pages of {dims}).",
            REBUILD,
        )
    return _read_vectors(zf, member, head, label)


def _check_directory(zf: zipfile.ZipFile, label: str, archive_size: int) -> dict[str, zipfile.ZipInfo]:
    """The members' declared sizes, checked before any is inflated."""
    members = {i.filename: i for i in zf.infolist() if i.filename in (*MEMBERS, OUTLINES)}
    for member in MEMBERS:
        if member not in members:
            raise IndexFileError(f"{label} is not an index file (it has no {member}).", REBUILD)
    for info in members.values():
        if info.compress_type not in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED) or info.flag_bits & 1:
            raise IndexFileError(
                f"{label} encrypts or compresses {info.filename} in a way this app does not read.", REBUILD
            )
        if info.compress_size > archive_size or (
            info.file_size > SMALL_MEMBER and info.file_size > MAX_RATIO * info.compress_size
        ):
            raise IndexFileError(
                f"{label} was refused: its {info.filename} would inflate from "
                f"{_mb(info.compress_size)} to {_mb(info.file_size)}.",
                REBUILD,
            )
    total = sum(i.file_size for i in members.values())
    if total > MAX_INFLATED:
        raise IndexFileError(
            f"{label} would inflate to {_mb(total)}; the limit is {_mb(MAX_INFLATED)}.", REBUILD
        )
    return members


class _NpyHeader(NamedTuple):
    shape: tuple[int, ...]
    dtype: np.dtype
    fortran: bool
    offset: int  # where the data starts
    nbytes: int


def _npy_header(zf: zipfile.ZipFile, info: zipfile.ZipInfo, label: str) -> _NpyHeader:
    """An .npy member's header (vectors.npy, outlines.npy), checked: a float table whose size
    is exactly what the zip declares."""
    with zf.open(info) as stream:
        head = io.BytesIO(stream.read(min(info.file_size, NPY_HEAD)))
    version = np.lib.format.read_magic(head)
    if version not in ((1, 0), (2, 0)):
        raise ValueError(f"npy format {version}")
    read = np.lib.format.read_array_header_1_0 if version == (1, 0) else np.lib.format.read_array_header_2_0
    shape, fortran, dtype = read(head)
    if dtype.kind != "f" or dtype.itemsize > 8:
        raise IndexFileError(
            f"{label} is damaged: its {info.filename} holds {dtype}, not floating-point numbers.", REBUILD
        )
    if len(shape) != 2:
        raise IndexFileError(
            f"{label} is damaged: its {info.filename} is a {len(shape)}-D array, not a table of vectors.",
            REBUILD,
        )
    if shape[0] and not 0 < shape[1] <= MAX_DIMS:
        raise IndexFileError(f"{label} is damaged: its {info.filename} has {shape[1]} dimensions.", REBUILD)
    nbytes = shape[0] * shape[1] * dtype.itemsize
    if info.file_size != head.tell() + nbytes:
        raise IndexFileError(
            f"{label} is damaged: {info.filename} holds {_mb(info.file_size)}, its header says "
            f"{_mb(head.tell() + nbytes)}.",
            REBUILD,
        )
    return _NpyHeader(shape, dtype, fortran, head.tell(), nbytes)


def _read_vectors(zf: zipfile.ZipFile, info: zipfile.ZipInfo, head: _NpyHeader, label: str) -> np.ndarray:
    """Exactly the bytes the header promises, straight into one array, a block at a time."""
    array = np.empty(head.shape[::-1] if head.fortran else head.shape, dtype=head.dtype)
    buffer = memoryview(array.reshape(-1).view(np.uint8))
    with zf.open(info) as stream:
        stream.read(head.offset)
        done = 0
        while done < head.nbytes:
            got = stream.readinto(buffer[done : done + BLOCK])
            if not got:
                raise IndexFileError(f"{label} is damaged: {info.filename} ends early.", REBUILD)
            done += got
        if stream.read(1):
            raise IndexFileError(f"{label} is damaged: {info.filename} is longer than it says.", REBUILD)
    vectors = np.ascontiguousarray(array.T if head.fortran else array, dtype=np.float32)
    if not np.isfinite(vectors).all():
        raise IndexFileError(f"{label} is damaged: some vectors are not numbers (NaN or infinity).", REBUILD)
    return vectors


def _read_json(zf: zipfile.ZipFile, info: zipfile.ZipInfo, cap: int, label: str) -> Any:
    """A JSON member no larger than `cap` bytes, however large it says it is."""
    if info.file_size > cap:
        raise IndexFileError(
            f"{label} was refused: its {info.filename} would inflate to {_mb(info.file_size)}, "
            f"more than the {_mb(cap)} an index of this size needs.",
            REBUILD,
        )
    with zf.open(info) as stream:
        data = stream.read(cap + 1)
    if len(data) > cap:
        raise IndexFileError(f"{label} is damaged: {info.filename} is longer than it says.", REBUILD)
    try:
        return json.loads(data)
    except ValueError:  # UnicodeDecodeError included
        raise IndexFileError(f"{label} is damaged: {info.filename} is not valid JSON.", REBUILD) from None


def _parse_info(payload: Any, label: str) -> IndexInfo:
    if not isinstance(payload, dict) or payload.get("format") != FORMAT:
        raise IndexFileError(f"{label} is not an index file.", REBUILD)
    if payload.get("version") != VERSION:
        raise IndexFileError(
            f"{label} is index format {payload.get('version')}; this app reads {VERSION}.", REBUILD
        )
    info = payload.get("info")
    if not isinstance(info, dict):
        raise IndexFileError(f"{label} is damaged: index.json has no info object.", REBUILD)
    for key, kind in INFO_FIELDS.items():
        if key not in info:
            raise IndexFileError(f"{label} is damaged: index.json's info has no {key!r}.", REBUILD)
        if not isinstance(info[key], kind) or isinstance(info[key], bool):
            raise IndexFileError(f"{label} is damaged: index.json's {key!r} is {info[key]!r}.", REBUILD)
    extra = sorted(set(info) - set(INFO_FIELDS))
    if extra:
        raise IndexFileError(
            f"{label} is damaged: index.json's info has an unknown key {extra[0]!r}.", REBUILD
        )
    for page in info["pages"]:
        if not (
            isinstance(page, dict) and isinstance(page.get("url"), str) and isinstance(page.get("title"), str)
        ):
            raise IndexFileError(f"{label} is damaged: a page in index.json is {page!r:.80}.", REBUILD)
    return IndexInfo(**info)


def _parse_documents(raw: Any, label: str) -> tuple[list[Document], list[str]]:
    if not isinstance(raw, list):
        raise IndexFileError(f"{label} is damaged: documents.json is not a list of chunks.", REBUILD)
    docs, ids = [], []
    for number, item in enumerate(raw, 1):
        problem = _chunk_problem(item)
        if problem:
            raise IndexFileError(f"{label} is damaged: chunk {number} in documents.json {problem}.", REBUILD)
        docs.append(Document(page_content=item["text"], metadata=item["metadata"]))
        ids.append(item["id"])
    return docs, ids


def _chunk_problem(item: Any) -> str:
    if not isinstance(item, dict):
        return "is not an object"
    for key, kind in (("id", str), ("text", str), ("metadata", dict)):
        if key not in item:
            return f"has no {key!r}"
        if not isinstance(item[key], kind):
            return f"has {key!r} {item[key]!r:.40}, not {'an object' if kind is dict else 'a string'}"
    extra = sorted(set(item) - {"id", "text", "metadata"})
    return f"has an unknown key {extra[0]!r}" if extra else ""


def page_of(doc: Document, row: int) -> str:
    """The page a chunk belongs to: its URL; a chunk without one is a page of its own."""
    return doc.metadata.get("url") or f"#{row}"


def pages_of(documents: Sequence[Document]) -> dict[str, list[int]]:
    """Each page's rows, in store order."""
    pages: dict[str, list[int]] = {}
    for row, doc in enumerate(documents):
        pages.setdefault(page_of(doc, row), []).append(row)
    return pages


def page_of_rows(pages: Iterable[Sequence[int]], rows: int) -> np.ndarray:
    """Each of `rows` chunks' page: its index in `pages` (each page's rows)."""
    found = np.zeros(rows, dtype=np.int64)
    for page, page_rows in enumerate(pages):
        found[list(page_rows)] = page
    return found


def unit_rows(vectors: np.ndarray) -> np.ndarray:
    """Each row scaled to unit length (a zero row stays zero)."""
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    norms[norms == 0] = 1.0
    return vectors / norms


def merge_stores(base: SKLearnStore, extra: SKLearnStore) -> SKLearnStore:
    """A new store with `base`'s chunks and `extra`'s; neither is changed (a shared index
    stays read-only). A page in both keeps `extra`'s fresh chunks, not two copies."""
    if extra.info.embedder != base.info.embedder:
        raise EmbedderMismatch(
            f"These pages were embedded with {extra.info.embedder}; the index uses {base.info.embedder}.",
            "Add pages with the index's own embedder, or start a new index.",
        )
    from .loading.crawl import same_page_key  # "a b.html" and "a%20b.html" are one page

    fresh = {same_page_key(p["url"]) for p in extra.info.pages}
    keep = [i for i, d in enumerate(base.documents) if same_page_key(d.metadata.get("url", "")) not in fresh]
    store = SKLearnStore(base.embeddings, base.info.embedder, base.info.splitter)
    store.documents = [base.documents[i] for i in keep] + list(extra.documents)
    store.ids = [base.ids[i] for i in keep] + list(extra.ids)
    parts = [v for v in (base.vectors[keep], extra.vectors) if len(v)]
    store._vectors = np.vstack(parts) if parts else np.zeros((0, 0), dtype=np.float32)
    store.info.dims = int(store._vectors.shape[1]) if len(store._vectors) else base.info.dims
    store.info.chunks = len(store.documents)
    outlines = base.outlines_for(pages_of(base.documents)).items()
    kept = {page: v for page, v in outlines if same_page_key(page) not in fresh}
    store._outlines = {**kept, **extra.outlines_for(pages_of(extra.documents))}
    store.add_pages((p["url"], p["title"]) for p in base.info.pages if same_page_key(p["url"]) not in fresh)
    store.add_pages((p["url"], p["title"]) for p in extra.info.pages)
    return store
