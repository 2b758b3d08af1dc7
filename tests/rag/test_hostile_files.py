"""Hostile files: crafted index files and question sets get one sentence naming the file, never a
traceback, and a zip bomb is refused before it is inflated."""

from __future__ import annotations

import io
import json
import struct
import subprocess
import sys
import zipfile

import numpy as np
import pytest

from rag.cli import main
from rag.errors import EmbedderMismatch, IndexFileError, InputError
from rag.evaluation import load_questions, parse_questions
from rag.store import SKLearnStore, read_index
from tests.conftest import ROOT
from tests.rag.test_store import Fixed, store_with

MB = 2**20


@pytest.fixture
def good(tmp_path):
    """A real index file, and its three members."""
    path = store_with(["alpha", "beta", "gamma"]).save(tmp_path / "good.ragidx")
    with zipfile.ZipFile(path) as zf:
        members = {name: zf.read(name) for name in zf.namelist()}
    return path, members


def write(path, members, compression=zipfile.ZIP_DEFLATED):
    with zipfile.ZipFile(path, "w", compression) as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    return path


def npy(array) -> bytes:
    buffer = io.BytesIO()
    np.save(buffer, array, allow_pickle=False)
    return buffer.getvalue()


def edit_json(data: bytes, change) -> bytes:
    value = json.loads(data)
    change(value)
    return json.dumps(value).encode()


def refused(path, match: str) -> IndexFileError:
    """read_index refuses the file with a sentence naming it, and `rag info` exits 1 without a traceback."""
    with pytest.raises(IndexFileError, match=match) as caught:
        read_index(path)
    assert path.name in str(caught.value) and caught.value.fix
    return caught.value


def streamed_bomb(path, member: str, prefix: bytes, size: int, suffix: bytes, others: dict[str, bytes]):
    """A zip whose `member` inflates to `size` bytes of spaces, written 4 MB at a time at level 1."""
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED, compresslevel=1) as zf:
        for name, data in others.items():
            zf.writestr(name, data)
        with zf.open(member, "w") as out:
            out.write(prefix)
            block = b" " * (4 * MB)
            for _ in range(size // len(block)):
                out.write(block)
            out.write(block[: size % len(block)] + suffix)
    return path


# Zip bombs and sizes -------------------------------------------------------------------


def test_rag_info_on_a_zip_bomb_stays_small_and_says_why(tmp_path, good):
    _, members = good
    bomb = streamed_bomb(
        tmp_path / "bomb.ragidx",
        "documents.json",
        b"[",
        512 * MB,
        b"]",
        {"index.json": members["index.json"], "vectors.npy": members["vectors.npy"]},
    )
    assert bomb.stat().st_size < 4 * MB
    measure = (
        "import resource, subprocess, sys;"
        "r = subprocess.run([sys.executable, '-m', 'rag', 'info', sys.argv[1]],"
        " capture_output=True, text=True);"
        "print(r.returncode, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss);"
        "print(r.stderr)"
    )
    result = subprocess.run(
        [sys.executable, "-c", measure, str(bomb)], cwd=ROOT, capture_output=True, text=True, timeout=120
    )
    status, rss_kb = result.stdout.split("\n", 1)[0].split()
    assert int(status) == 1, result.stdout
    assert int(rss_kb) < 300 * 1024, f"rag info peaked at {int(rss_kb) // 1024} MB"
    assert "bomb.ragidx was refused" in result.stdout and "Traceback" not in result.stdout


def test_a_whitespace_padded_index_json_is_refused(tmp_path, good):
    _, members = good
    padded = members["index.json"] + b" " * (3 * MB)  # stored: no ratio to catch, only the size
    path = write(tmp_path / "padded.ragidx", {**members, "index.json": padded}, zipfile.ZIP_STORED)
    refused(path, "index.json would inflate to 3.0 MB")
    bomb = streamed_bomb(
        tmp_path / "wide.ragidx",
        "index.json",
        members["index.json"],
        64 * MB,
        b"",
        {"documents.json": members["documents.json"], "vectors.npy": members["vectors.npy"]},
    )
    refused(bomb, "was refused")


def test_a_vector_bomb_with_an_honest_header_is_refused(tmp_path, good):
    _, members = good
    rows = 64 * MB // (26 * 4)  # 64 MB of float32 vectors, exactly as the header says
    header = io.BytesIO()
    np.lib.format.write_array_header_1_0(
        header, {"descr": "<f4", "fortran_order": False, "shape": (rows, 26)}
    )
    bomb = streamed_bomb(
        tmp_path / "zeros.ragidx",
        "vectors.npy",
        header.getvalue(),
        rows * 26 * 4,
        b"",
        {"index.json": members["index.json"], "documents.json": members["documents.json"]},
    )
    refused(bomb, "vectors.npy would inflate")


def test_a_member_larger_than_it_declares_is_cut_off(tmp_path, good):
    path, _ = good
    data = bytearray(path.read_bytes())
    entry = data.rfind(b"PK\x01\x02", 0, data.rfind(b"documents.json"))  # its central directory entry
    assert data[entry + 46 : entry + 46 + 14] == b"documents.json"
    data[entry + 24 : entry + 28] = struct.pack("<I", 5)  # declares 5 bytes, holds more
    (tmp_path / "liar.ragidx").write_bytes(data)
    refused(tmp_path / "liar.ragidx", "damaged")


def test_an_archive_with_many_entries_is_refused_before_it_is_parsed(tmp_path, good):
    _, members = good
    many = {**members, **{f"pad/{i}": b"" for i in range(5000)}}
    refused(write(tmp_path / "many.ragidx", many), "holds 5,003 entries")


@pytest.mark.parametrize("method", [zipfile.ZIP_BZIP2, zipfile.ZIP_LZMA])
def test_compressions_zipfile_cannot_bound_are_refused(tmp_path, good, method):
    _, members = good
    refused(write(tmp_path / "other.ragidx", members, method), "compresses index.json in a way")


# Damaged contents ------------------------------------------------------------------------


def test_corrupt_deflate_data_is_a_damaged_file(tmp_path, good):
    path, _ = good
    data = bytearray(path.read_bytes())
    start = data.find(b"documents.json") + len(b"documents.json")  # its local header's name
    data[start + 2 : start + 12] = b"\xff" * 10
    (tmp_path / "corrupt.ragidx").write_bytes(data)
    refused(tmp_path / "corrupt.ragidx", "damaged")


VECTOR_CASES = {
    "nan": (np.full((3, 26), np.nan, dtype=np.float32), "not numbers"),
    "inf": (np.array([[np.inf] * 26] * 3, dtype=np.float32), "not numbers"),
    "dims": (np.ones((3, 5), dtype=np.float32), "5-dimensional vectors but says 26"),
    "rows": (np.ones((2, 26), dtype=np.float32), "inconsistent"),
    "1d": (np.ones(26, dtype=np.float32), "1-D array"),
    "3d": (np.ones((3, 26, 1), dtype=np.float32), "3-D array"),
    "strings": (np.array([["a"] * 26] * 3), "not floating-point"),
    "ints": (np.ones((3, 26), dtype=np.int64), "not floating-point"),
}


@pytest.mark.parametrize("case", VECTOR_CASES)
def test_bad_vectors_are_refused_with_a_sentence(tmp_path, good, case):
    _, members = good
    array, match = VECTOR_CASES[case]
    path = write(tmp_path / f"{case}.ragidx", {**members, "vectors.npy": npy(array)})
    refused(path, match)


OUTLINE_CASES = {  # the good file has 3 pages of 26 dimensions
    "nan": (np.full((3, 26), np.nan, dtype=np.float32), "not numbers"),
    "pages": (np.ones((2, 26), dtype=np.float32), "2 page outlines of 26 dimensions for 3 pages"),
    "dims": (np.ones((3, 5), dtype=np.float32), "3 page outlines of 5 dimensions for 3 pages of 26"),
    "1d": (np.ones(26, dtype=np.float32), "1-D array"),
    "ints": (np.ones((3, 26), dtype=np.int64), "not floating-point"),
}


@pytest.mark.parametrize("case", OUTLINE_CASES)
def test_bad_page_outlines_are_refused_with_a_sentence(tmp_path, good, case):
    _, members = good
    array, match = OUTLINE_CASES[case]
    path = write(tmp_path / f"outlines-{case}.ragidx", {**members, "outlines.npy": npy(array)})
    refused(path, match)


def test_a_page_outlines_bomb_is_refused_before_it_is_inflated(tmp_path, good):
    _, members = good
    header = io.BytesIO()
    np.lib.format.write_array_header_1_0(header, {"descr": "<f4", "fortran_order": False, "shape": (3, 26)})
    size = 200 * MB
    bomb = tmp_path / "outline-bomb.ragidx"
    path = streamed_bomb(bomb, "outlines.npy", header.getvalue(), size, b"", members)
    refused(path, "inflate")


def test_object_arrays_are_refused_without_unpickling(tmp_path, good):
    _, members = good
    header = io.BytesIO()
    np.lib.format.write_array_header_1_0(header, {"descr": "|O", "fortran_order": False, "shape": (3, 26)})
    path = write(tmp_path / "pickled.ragidx", {**members, "vectors.npy": header.getvalue() + b"\x80" * 64})
    refused(path, "not floating-point")


def test_fortran_ordered_vectors_are_read_right(tmp_path, good):
    path, members = good
    vectors = read_index(path)[3]
    fortran = npy(np.asfortranarray(vectors))
    again = read_index(write(tmp_path / "f.ragidx", {**members, "vectors.npy": fortran}))[3]
    np.testing.assert_array_equal(again, vectors)


def _info(change):
    return lambda payload: change(payload["info"])


JSON_CASES = {
    "index-empty": ("index.json", lambda v: v.clear(), "not an index file"),
    "no-embedder": ("index.json", _info(lambda i: i.pop("embedder")), "has no 'embedder'"),
    "extra-key": ("index.json", _info(lambda i: i.update(owner="x")), "unknown key 'owner'"),
    "dims-text": ("index.json", _info(lambda i: i.update(dims="26")), "'dims' is '26'"),
    "pages-junk": ("index.json", _info(lambda i: i.update(pages=[3])), "a page in index.json"),
    "info-null": ("index.json", lambda v: v.update(info=None), "no info object"),
    "no-text": ("documents.json", lambda docs: docs[0].pop("text"), "chunk 1 .* has no 'text'"),
    "null-meta": ("documents.json", lambda docs: docs[1].update(metadata=None), "chunk 2 .* 'metadata' None"),
    "text-number": ("documents.json", lambda docs: docs[2].update(text=7), "chunk 3 .* 'text' 7"),
    "doc-extra": ("documents.json", lambda docs: docs[0].update(more=1), "unknown key 'more'"),
    "doc-string": ("documents.json", lambda docs: docs.__setitem__(0, "x"), "chunk 1 .* not an object"),
}


@pytest.mark.parametrize("case", JSON_CASES)
def test_bad_json_members_are_refused_with_a_sentence(tmp_path, good, case):
    _, members = good
    member, change, match = JSON_CASES[case]
    path = write(tmp_path / f"{case}.ragidx", {**members, member: edit_json(members[member], change)})
    refused(path, match)


@pytest.mark.parametrize(
    ("member", "data"),
    [("index.json", b"[1, 2]"), ("documents.json", b'{"a": 1}'), ("documents.json", b"\xff\xfe[")],
)
def test_json_of_the_wrong_shape_or_encoding_is_refused(tmp_path, good, member, data):
    _, members = good
    refused(write(tmp_path / "shape.ragidx", {**members, member: data}), "not an index file|damaged")


def test_rag_info_prints_one_line_and_exits_1(tmp_path, good, capsys):
    _, members = good
    path = write(tmp_path / "nan.ragidx", {**members, "vectors.npy": npy(np.full((3, 26), np.nan, "f4"))})
    assert main(["info", str(path)]) == 1
    err = capsys.readouterr().err
    assert err.startswith("error: nan.ragidx is damaged") and err.count("\n") == 1


def test_uploads_are_read_from_bytes_under_their_own_name(good):
    path, _ = good
    data = path.read_bytes()
    store = SKLearnStore.load(data, Fixed(), "test:letters", name="My guide.ragidx")
    assert len(store) == 3 and store.similarity_search("beta", k=1)[0].page_content == "beta"
    with pytest.raises(IndexFileError, match=r"^My guide\.ragidx is damaged"):
        read_index(data[:-30], name="My guide.ragidx")
    with pytest.raises(EmbedderMismatch, match=r"My guide\.ragidx was built with test:letters"):
        SKLearnStore.load(data, Fixed(), "local:x", name="My guide.ragidx")


def test_a_good_file_still_loads(good):
    path, _ = good
    info, docs, ids, vectors, outlines = read_index(path)
    assert info.chunks == len(docs) == len(ids) == len(vectors) == 3 and vectors.dtype == np.float32
    assert outlines is None  # a file without page outlines (older, or never searched) loads too


# Question sets -----------------------------------------------------------------------------

GOOD_LINE = '{"id": "q1", "question": "What runs containers?", "answer_keys": ["Cloud Run"]}'
QUESTION_CASES = {
    "array": ('["What?"]', "is a JSON array"),
    "string": ('"What runs containers?"', "is a JSON string"),
    "no-question": ('{"id": "x"}', '"question" is None'),
    "null-question": ('{"question": null}', '"question" is None'),
    "number-question": ('{"question": 42}', '"question" is 42'),
    "history-string": ('{"question": "q", "history": "hi"}', '"history" is'),
    "history-pairs": ('{"question": "q", "history": [["user", "hi"]]}', '"history" is'),
    "history-role": ('{"question": "q", "history": [{"role": "x", "content": "c"}]}', '"history" is'),
    "kind-number": ('{"question": "q", "kind": 3}', '"kind" is 3'),
    "keys-mixed": ('{"question": "q", "answer_keys": [16, null]}', '"answer_keys" is'),
    "keys-string": ('{"question": "q", "answer_keys": "Cloud Run"}', '"answer_keys" is'),
    "gold-object": ('{"question": "q", "gold": {"a": 1}}', '"gold" is'),
    "id-list": ('{"question": "q", "id": [1]}', '"id" is'),
    "not-json": ("{question: q}", "not JSON"),
}


@pytest.mark.parametrize("case", QUESTION_CASES)
def test_bad_question_lines_are_refused_with_their_line_number(tmp_path, case):
    line, match = QUESTION_CASES[case]
    path = tmp_path / "qa.jsonl"
    path.write_text(f"{GOOD_LINE}\n\n{line}\n", encoding="utf-8")
    with pytest.raises(InputError, match=f"line 3: .*{match}") as caught:
        load_questions(path)
    assert str(path) in str(caught.value) and caught.value.fix
    with pytest.raises(InputError, match=f"^upload.jsonl, line 3: .*{match}"):
        load_questions(path.read_bytes(), name="upload.jsonl")


def test_a_non_utf8_question_file_is_refused_with_its_line_number(tmp_path):
    path = tmp_path / "latin1.jsonl"
    path.write_bytes(GOOD_LINE.encode() + b'\n{"question": "caf\xe9?"}\n')
    with pytest.raises(InputError, match="line 2: not UTF-8"):
        load_questions(path)


def test_question_files_from_bytes_text_and_paths_agree(tmp_path):
    data = GOOD_LINE + "\n" + '{"question": "q2\u2028two", "history": [{"role": "user", "content": "hi"}]}'
    path = tmp_path / "qa.jsonl"
    path.write_text(data, encoding="utf-8")
    from_path = load_questions(path)
    assert from_path == load_questions(("\ufeff" + data).encode()) == parse_questions(data)
    assert [q.id for q in from_path] == ["q1", "2"] and from_path[1].question == "q2\u2028two"


def test_the_bundled_question_sets_are_valid():
    for path in (ROOT / "rag" / "data").glob("*.jsonl"):
        assert load_questions(path), path


def test_eval_refuses_a_bad_question_file_before_opening_the_index(tmp_path, capsys):
    path = tmp_path / "qa.jsonl"
    path.write_text(GOOD_LINE + '\n{"question": "q", "answer_keys": [16, null]}\n', encoding="utf-8")
    assert main(["eval", str(path), "--index", str(tmp_path / "none.ragidx")]) == 2
    assert "line 2" in capsys.readouterr().err  # not "No index at ...": the questions come first
