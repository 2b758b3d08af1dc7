"""`python -m rag` end to end, as a workshop script would run it."""

import json
import os
import subprocess
import sys

import pytest

from tests.conftest import ROOT


def run(*args, env=None, check=True):
    result = subprocess.run(
        [sys.executable, "-m", "rag", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "RAG_LLM": "embedded", **(env or {})},
    )
    if check and result.returncode != 0:
        raise AssertionError(f"exit {result.returncode}\n{result.stdout}\n{result.stderr}")
    return result


def start(*args: str) -> subprocess.Popen:
    """`python -m rag ARGS` running in the background, its output piped (for Ctrl-C tests)."""
    return subprocess.Popen(
        [sys.executable, "-m", "rag", *args],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "RAG_LLM": "embedded"},
    )


@pytest.fixture(scope="module")
def built_index(tmp_path_factory):
    from tests.conftest import FAILURES, SAMPLE_DOCS
    from tests.servers.site import SiteServer

    path = tmp_path_factory.mktemp("idx") / "guide.ragidx"
    with SiteServer(SAMPLE_DOCS, extra=FAILURES) as site:
        urls = tmp_path_factory.mktemp("urls") / "urls.txt"
        urls.write_text(f"{site.url}/missing.html\n{site.url}/report.pdf\n")
        result = run(
            "index",
            "--crawl",
            f"{site.url}/index.html",
            "--max-pages",
            "20",
            "--urls-file",
            str(urls),
            "--save",
            str(path),
            "--json",
        )
    summary = json.loads(result.stdout)
    return path, summary, result.stderr


def test_index_prints_progress_and_a_summary(built_index):
    path, summary, progress = built_index
    assert path.exists()
    assert summary["pages_ok"] == 7 and summary["pages_failed"] == 2
    assert {f["reason"] for f in summary["failures"]} == {"http-404", "unsupported-type"}
    assert summary["chunks"] > 7 and summary["chunks_per_s"] > 0 and summary["seconds"] > 0
    assert "ok" in progress and "FAIL" in progress and "embedded" in progress


def test_search_prints_hits_as_json(built_index):
    path, _, _ = built_index
    result = run(
        "search", "How do I keep the model loaded forever?", "--index", str(path), "-k", "3", "--json"
    )
    hits = json.loads(result.stdout)["hits"]
    assert len(hits) == 3 and set(hits[0]) == {"source", "title", "content", "score"}
    assert any("OLLAMA_KEEP_ALIVE" in h["content"] for h in hits)


def test_search_with_a_queries_file_keeps_order_and_uses_history(built_index, tmp_path):
    path, _, _ = built_index
    queries = tmp_path / "q.jsonl"
    queries.write_text(
        json.dumps({"id": "a", "question": "What does an ID token's audience have to be?"})
        + "\n"
        + json.dumps(
            {
                "id": "b",
                "question": "And which role does the caller need?",
                "history": [
                    {"role": "user", "content": "How do I call a private Cloud Run service?"},
                    {"role": "assistant", "content": "Send an identity token."},
                ],
            }
        )
        + "\n"
    )
    lines = [
        json.loads(x)
        for x in run(
            "search", "--queries-file", str(queries), "--index", str(path), "-k", "2", "--json"
        ).stdout.splitlines()
    ]
    assert [x["id"] for x in lines] == ["a", "b"] and all(len(x["hits"]) == 2 for x in lines)
    assert lines[1]["query"].startswith("How do I call a private Cloud Run service?")
    assert any("security.html" in h["source"] for h in lines[1]["hits"])


def test_eval_reports_recall_and_mrr(built_index, tmp_path):
    path, _, _ = built_index
    qa = tmp_path / "qa.jsonl"
    qa.write_text(
        "\n".join(
            json.dumps(q)
            for q in [
                {
                    "id": "1",
                    "question": "How much GPU memory does an L4 have?",
                    "gold": ["cloud-run-gpu.html"],
                    "kind": "factoid",
                },
                {
                    "id": "2",
                    "question": "Which environment variable sets parallel decoding?",
                    "gold": ["ollama.html"],
                    "kind": "factoid",
                },
                {"id": "3", "question": "Is there a free tier?", "gold": [], "kind": "unanswerable"},
            ]
        )
    )
    report = json.loads(run("eval", str(qa), "--index", str(path), "--json").stdout)
    assert report["overall"]["n"] == 2 and report["overall"]["recall@10"] == 1.0
    assert 0 < report["overall"]["mrr"] <= 1
    table = run("eval", str(qa), "--index", str(path)).stdout
    assert "R@4" in table and "MRR" in table
    shallow = json.loads(run("eval", str(qa), "--index", str(path), "-k", "2", "--json").stdout)
    assert {"recall@1", "recall@2", "recall@4", "recall@10"} <= set(shallow["overall"])
    assert shallow["overall"]["recall@1"] <= shallow["overall"]["recall@2"] <= shallow["overall"]["recall@4"]


@pytest.mark.slow
def test_ask_compare_answers_both_ways(built_index):
    path, _, _ = built_index
    result = run(
        "ask",
        "What is the default port of Ollama?",
        "--index",
        str(path),
        "--compare",
        "--json",
        env={"RAG_MAX_TOKENS": "24"},
    )
    both = json.loads(result.stdout)
    assert set(both) == {"rag", "raw"}
    assert both["rag"]["sources"] and not both["raw"]["sources"]
    assert both["rag"]["timings"]["first_token"] is not None


def test_bad_input_is_a_sentence_and_an_exit_status(tmp_path, built_index):
    path, _, _ = built_index
    missing = run("search", "x", "--index", str(tmp_path / "none.ragidx"), check=False)
    assert missing.returncode == 1 and "No index at" in missing.stderr and "Traceback" not in missing.stderr
    wrong = run("search", "x", "--index", str(path), "--embeddings", "ollama", check=False)
    assert wrong.returncode == 1 and "was built with local:all-MiniLM-L6-v2" in wrong.stderr
    nothing = run("index", "--save", str(tmp_path / "x.ragidx"), check=False)
    assert nothing.returncode == 2 and "Nothing to index" in nothing.stderr
    bad_env = run("info", str(path), env={"RAG_TOP_K": "many"}, check=False)
    assert bad_env.returncode == 0  # info does not read settings
    bad = run("search", "x", "--index", str(path), env={"RAG_TOP_K": "many"}, check=False)
    assert bad.returncode == 2 and "RAG_TOP_K='many'" in bad.stderr


def test_an_index_where_every_page_fails_writes_no_file(tmp_path):
    target = tmp_path / "never.ragidx"
    result = run("index", "http://127.0.0.1:9/a.html", "--save", str(target), check=False)
    assert result.returncode == 1 and not target.exists()
    assert "127.0.0.1:9" in result.stdout and "no index was written" in result.stderr


def test_info_describes_the_file(built_index):
    path, _, _ = built_index
    info = json.loads(run("info", str(path), "--json").stdout)
    assert info["embedder"] == "local:all-MiniLM-L6-v2" and info["page_count"] == 7 and info["dims"] == 384


def test_compare_prints_a_summary_and_writes_a_csv(built_index, tmp_path):
    from tests.servers.ollama import FakeOllama

    path, _, _ = built_index
    qa = tmp_path / "qa.jsonl"
    qa.write_text((ROOT / "rag" / "data" / "sample-guide-qa.jsonl").read_text())
    with FakeOllama() as server:
        result = run(
            "compare",
            str(qa),
            "--index",
            str(path),
            "--llm",
            f"ollama:{server.url}",
            "--limit",
            "3",
            "--csv",
            str(tmp_path / "out.csv"),
        )
    assert "RAG cov" in result.stdout and "[3/3]" in result.stderr
    import csv

    with open(tmp_path / "out.csv", newline="") as handle:
        assert len(list(csv.DictReader(handle))) == 3


def test_compare_stopped_with_ctrl_c_keeps_the_finished_questions(built_index, tmp_path):
    import csv
    import signal

    from tests.servers.ollama import FakeOllama, OllamaState

    path, _, _ = built_index
    qa = ROOT / "rag" / "data" / "sample-guide-qa.jsonl"
    out = tmp_path / "out.csv"
    with FakeOllama(OllamaState(token_delay=0.02)) as server:
        args = ["compare", str(qa), "--index", str(path), "--llm", f"ollama:{server.url}", "--csv", str(out)]
        process = start(*args)
        seen = ""
        while "[2/" not in seen:  # two questions scored, then Ctrl-C
            line = process.stderr.readline()
            assert line, f"compare ended early: {seen}"
            seen += line
        process.send_signal(signal.SIGINT)
        stdout, stderr = process.communicate(timeout=60)
    assert process.returncode == 130, stderr[-3000:]
    assert "stopped: " in stderr and "Traceback" not in stderr
    with open(out, newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert len(rows) >= 2 and rows[0]["id"]
    assert "RAG cov" in stdout and "raw made up" in stdout  # the summary of what was finished


def test_an_embedder_failing_half_way_leaves_no_file(tmp_path, site):
    from tests.servers.ollama import FakeOllama

    target = tmp_path / "broken.ragidx"
    with FakeOllama() as server:
        server.state.models = []  # the embedding model is missing: the first batch fails
        result = run(
            "index",
            f"{site.url}/gemma.html",
            f"{site.url}/ollama.html",
            "--embeddings",
            "ollama",
            "--save",
            str(target),
            env={"OLLAMA_URL": server.url},
            check=False,
        )
    assert result.returncode == 1 and not target.exists() and not list(tmp_path.iterdir())
    assert "ollama pull nomic-embed-text" in result.stderr and "Traceback" not in result.stderr


def test_ctrl_c_ends_a_command_with_130_and_one_line(built_index):
    import signal

    from tests.servers.ollama import FakeOllama, OllamaState

    path, _, _ = built_index
    with FakeOllama(OllamaState(token_delay=0.2)) as server:
        server.state.answer = lambda messages: "one two three four five six seven eight nine ten " * 5
        args = ["ask", "What is Cloud Run?", "--index", str(path), "--llm", f"ollama:{server.url}"]
        process = start(*args)
        assert process.stdout.read(3) == "one"  # the answer is streaming: interrupt it
        process.send_signal(signal.SIGINT)
        _, stderr = process.communicate(timeout=60)
    assert process.returncode == 130, stderr[-3000:]
    assert stderr.strip().splitlines()[-1] == "stopped." and "Traceback" not in stderr


def test_an_unwritable_csv_is_a_sentence_and_exit_1(built_index, tmp_path):
    from tests.servers.ollama import FakeOllama

    path, _, _ = built_index
    qa = ROOT / "rag" / "data" / "sample-guide-qa.jsonl"
    out = tmp_path / "no-such-folder" / "out.csv"
    with FakeOllama() as server:
        args = ["--index", str(path), "--llm", f"ollama:{server.url}", "--limit", "1", "--csv", str(out)]
        result = run("compare", str(qa), *args, check=False)
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert f"error: Cannot write {out}" in result.stderr


@pytest.mark.parametrize("command", ["eval", "compare"])
def test_help_names_files_inside_the_repository(command, capsys):
    from rag.cli import main

    with pytest.raises(SystemExit) as exit_:
        main([command, "--help"])
    usage = capsys.readouterr().out
    assert exit_.value.code == 0 and "shared/" not in usage
    assert "rag/data/python-docs-qa.jsonl" in usage and (ROOT / "rag/data/python-docs-qa.jsonl").exists()
