"""Every page with Streamlit's AppTest: widgets, session state, errors shown, sessions isolated.

The model target is a protocol-faithful Ollama server on loopback (fast and
deterministic); one test runs the embedded model for real.
"""

from __future__ import annotations

import itertools
import re
import time

import pytest
from streamlit.testing.v1 import AppTest

from tests.conftest import ROOT

APP = str(ROOT / "streamlit_app.py")


def app(**secrets) -> AppTest:
    at = AppTest.from_file(APP, default_timeout=180)
    at.secrets.update(secrets)
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def use_ollama(at: AppTest, url: str, model: str = "gemma2:9b") -> None:
    at.radio(key="conn_kind").set_value("ollama").run()
    at.text_input(key="conn_url_ollama").set_value(url).run()
    at.text_input(key="conn_model").set_value(model).run()


def index_sample(at: AppTest) -> None:
    at.switch_page("pages/index.py").run()
    at.button(key="go_sample").click().run()
    assert not at.exception, [e.value for e in at.exception]


def texts(at: AppTest) -> str:
    return "\n".join(
        [m.value for m in at.markdown]
        + [c.value for c in at.caption]
        + [e.value for e in at.error]
        + [i.value for i in at.info]
    )


def test_first_visit_says_what_to_do():
    at = app()
    assert at.title[0].value == "Chat"
    assert "No index yet" in at.info[0].value
    assert at.radio(key="conn_kind").value == "embedded"


def test_index_the_sample_guide_and_see_stats_and_chunks():
    at = app()
    index_sample(at)
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["Pages"] == "7" and int(metrics["Chunks"]) > 7
    assert at.session_state["index"].store.info.page_count == 7
    assert len(at.dataframe) >= 1
    assert at.get("download_button")


def test_index_web_pages_reports_failures_per_url(site):
    at = app()
    at.switch_page("pages/index.py").run()
    at.text_area(key="urls").set_value(  # the URL list format of `python -m rag index --urls-file`
        f"  # pages to read\n{site.url}/gemma.html\n\n{site.url}/missing.html\n{site.url}/report.pdf\n"
    ).run()
    at.button(key="go_urls").click().run()
    assert not at.exception
    body = texts(at)
    assert "404 Not Found" in body and "application/pdf" in body
    assert at.session_state["index"].store.info.page_count == 1
    assert len(at.session_state["index"].report.failures) == 2  # the comment is not a page


def test_crawl_a_site_with_a_page_limit_and_the_notebook_splitter(site):
    at = app()
    at.switch_page("pages/index.py").run()
    at.selectbox[0].set_value("notebook").run()
    at.text_input(key="crawl_start").set_value(f"{site.url}/index.html").run()
    at.number_input(key="crawl_limit").set_value(3).run()
    at.button(key="go_crawl").click().run()
    assert not at.exception, [e.value for e in at.exception]
    info = at.session_state["index"].store.info
    assert info.page_count == 3 and info.splitter.startswith("notebook")


def test_two_sessions_indexing_the_same_pages_embed_once(site):
    urls = f"{site.url}/gemma.html\n{site.url}/ollama.html"
    reports = []
    for _ in range(2):  # two browser sessions: separate AppTests, one process-wide cache
        at = app()
        at.switch_page("pages/index.py").run()
        at.text_area(key="urls").set_value(urls).run()
        at.button(key="go_urls").click().run()
        assert not at.exception, [e.value for e in at.exception]
        reports.append(at.session_state["index"].report)
    first, second = reports
    assert second.chunks == first.chunks > 0 and second.embedded == 0  # all from the shared cache


def test_nothing_indexable_keeps_the_page_usable(site):
    at = app()
    at.switch_page("pages/index.py").run()
    at.text_area(key="urls").set_value(f"{site.url}/missing.html").run()
    at.button(key="go_urls").click().run()
    assert not at.exception and "index" not in at.session_state
    assert any("None of the pages could be read" in e.value for e in at.error)
    at.button(key="go_urls").click().run()  # still usable
    assert not at.exception
    at.text_area(key="urls").set_value("").run()
    at.button(key="go_urls").click().run()
    assert any("Paste at least one URL" in w.value for w in at.warning)


def test_chat_side_by_side_with_sources_and_timings(ollama):
    at = app()
    use_ollama(at, ollama.url)
    index_sample(at)
    at.switch_page("pages/chat.py").run()
    at.chat_input[0].set_value("How much memory does an L4 GPU service need?").run()
    assert not at.exception
    turn = at.session_state["chat"].turns[-1]
    assert turn.rag.text == turn.raw.text == "Cloud Run runs containers."
    assert turn.rag.sources and not turn.raw.sources
    body = texts(at)
    assert "first token" in body and "tokens/s" in body
    assert "Sources (4)" in [e.label for e in at.expander]
    assert ollama.state.max_active == 2 or len(ollama.state.requests) == 2


def test_follow_up_shows_the_rewritten_query(ollama):
    ollama.state.answer = lambda messages: (
        "Cloud Run GPU memory minimum" if "Rewrite a query" in messages[0]["content"] else "16 GiB."
    )
    at = app()
    use_ollama(at, ollama.url)
    index_sample(at)
    at.switch_page("pages/chat.py").run()
    at.chat_input[0].set_value("What GPU does the workshop use?").run()
    at.chat_input[0].set_value("And how much memory does it need?").run()
    assert not at.exception
    follow_up = at.session_state["chat"].turns[-1]
    assert follow_up.rag.rewritten and follow_up.rag.query == "Cloud Run GPU memory minimum"
    assert "Searched for: *Cloud Run GPU memory minimum*" in texts(at)
    next(b for b in at.button if b.label == "Clear chat").click().run()
    assert not at.session_state["chat"].turns


def test_without_an_index_questions_go_to_the_model_alone(ollama):
    at = app()
    use_ollama(at, ollama.url)
    at.chat_input[0].set_value("What is Cloud Run?").run()
    assert not at.exception
    turn = at.session_state["chat"].turns[-1]
    assert turn.rag is None and turn.raw.text == "Cloud Run runs containers."
    assert "No index: not asked." in texts(at)


def test_errors_are_a_sentence_and_a_fix_and_the_page_stays_usable(ollama):
    at = app()
    use_ollama(at, "http://127.0.0.1:9")
    at.chat_input[0].set_value("Hello?").run()
    assert not at.exception
    assert any(
        "Cannot reach Ollama at http://127.0.0.1:9" in e.value and "ollama serve" in e.value for e in at.error
    )
    use_ollama(at, ollama.url, model="llama3:70b")
    at.chat_input[0].set_value("Hello again?").run()
    assert any("ollama pull llama3:70b" in e.value for e in at.error)
    use_ollama(at, ollama.url)
    at.chat_input[0].set_value("Third time?").run()
    assert at.session_state["chat"].turns[-1].raw.text == "Cloud Run runs containers."


def test_connection_check_and_bad_urls(ollama):
    at = app()
    use_ollama(at, ollama.url)
    at.sidebar.button[0].click().run()
    assert any("gemma2:9b answers at" in s.value for s in at.success)
    at.switch_page("pages/index.py").run()  # the answer stays while the target stays
    assert any("gemma2:9b answers at" in s.value for s in at.success)
    at.text_input(key="conn_url_ollama").set_value("localhost:11434").run()
    assert any("must start with http" in e.value for e in at.error)
    use_ollama(at, "http://127.0.0.1:9")
    at.sidebar.button[0].click().run()
    assert any("Cannot reach" in e.value for e in at.error)


def test_ollama_embeddings_from_the_sidebar_build_the_index(ollama):
    at = app()
    at.selectbox(key="conn_embeddings").set_value("ollama").run()
    at.text_input(key="conn_eurl").set_value(ollama.url).run()
    index_sample(at)
    assert at.session_state["index"].store.info.embedder == "ollama:nomic-embed-text"
    assert any(r.path == "/api/embed" for r in ollama.state.requests)
    at.selectbox(key="conn_embeddings").set_value("vertex").run()
    assert at.text_input(key="conn_project") is not None and at.text_input(key="conn_region") is not None
    assert "keeps using it" in texts(at)  # the index stays on the embedder that built it


def test_sessions_are_isolated(ollama):
    first, second = app(), app()
    use_ollama(first, ollama.url)
    first.text_input(key="conn_token").set_value("first-secret").run()
    index_sample(first)
    first.switch_page("pages/chat.py").run()
    first.chat_input[0].set_value("What is Cloud Run?").run()
    second.run()
    assert "index" not in second.session_state and not second.session_state["chat"].turns
    assert second.session_state["settings"].ollama_token == ""
    assert second.radio(key="conn_kind").value == "embedded"
    assert ollama.state.requests[-1].headers["Authorization"] == "Bearer first-secret"


def test_settings_come_from_secrets():
    at = app(rag_llm="ollama:http://127.0.0.1:9", RAG_TOP_K="6")
    assert at.session_state["settings"].llm == "ollama:http://127.0.0.1:9"
    assert at.session_state["settings"].top_k == 6
    assert at.radio(key="conn_kind").value == "ollama"


def test_save_and_load_an_index_file(tmp_path):
    at = app()
    index_sample(at)
    saved = at.session_state["index"].store.save(tmp_path / "guide.ragidx").read_bytes()
    other = app()
    other.switch_page("pages/index.py").run()
    other.file_uploader(key="index_file").set_value(("guide.ragidx", saved, "application/zip")).run()
    other.button(key="load_index").click().run()
    assert other.session_state["index"].store.info.page_count == 7
    other.file_uploader(key="index_file").set_value(("junk.ragidx", b"not an index", "application/zip")).run()
    other.button(key="load_index").click().run()
    assert any("damaged or not an index file" in e.value for e in other.error)
    assert other.session_state["index"].store.info.page_count == 7  # the good one is kept


def test_upload_markdown_files():
    at = app()
    at.switch_page("pages/index.py").run()
    at.file_uploader(key="files").set_value(
        [("notes.md", b"# Notes\nCloud Run needs GPU quota.\n", "text/markdown")]
    )
    at.run()
    at.button(key="go_files").click().run()
    assert at.session_state["index"].store.info.page_count == 1


def test_hosted_mode_refuses_private_urls(site, monkeypatch):
    monkeypatch.setenv("WORKSHOP_HOSTED", "1")
    at = app()
    at.switch_page("pages/index.py").run()
    at.text_area(key="urls").set_value(f"{site.url}/gemma.html\nfile:///etc/passwd").run()
    at.button(key="go_urls").click().run()
    body = texts(at)
    assert "private or local address" in body and "Local files cannot be indexed" in body
    assert "index" not in at.session_state
    at.button(key="go_sample").click().run()  # the bundled guide still works when hosted
    assert at.session_state["index"].store.info.page_count == 7


@pytest.mark.slow
def test_embedded_model_answers_both_columns():
    at = app(rag_max_tokens="48")
    index_sample(at)
    at.switch_page("pages/chat.py").run()
    at.chat_input[0].set_value("How much memory does a Cloud Run service with an L4 GPU need?").run()
    assert not at.exception
    turn = at.session_state["chat"].turns[-1]
    assert turn.rag.text and turn.raw.text and turn.rag.sources
    assert turn.rag.model == "gemma-3-270m"


def test_compare_page_runs_scores_and_offers_downloads(ollama):
    at = app()
    use_ollama(at, ollama.url)
    at.switch_page("pages/compare.py").run()
    assert any("Build or load an index first" in i.value for i in at.info)
    index_sample(at)
    at.switch_page("pages/compare.py").run()
    at.number_input(key="c_limit").set_value(3).run()
    at.button(key="c_run").click().run()
    assert not at.exception, [e.value for e in at.exception]
    results = at.session_state["compare_results"]
    assert len(results) == 3 and all(r.rag_answer for r in results)
    assert at.session_state["compare_retrieval"]["overall"]["n"] == 3
    assert len(at.get("download_button")) == 2


def test_compare_with_typed_questions(ollama):
    at = app()
    use_ollama(at, ollama.url)
    index_sample(at)
    at.switch_page("pages/compare.py").run()
    at.radio(key="c_source").set_value("Type your own").run()
    at.session_state["c_typed"] = {
        "edited_rows": {"0": {"question": "What runs containers?", "facts": "Cloud Run"}},
        "added_rows": [],
        "deleted_rows": [],
    }
    at.run()
    at.button(key="c_run").click().run()
    assert not at.exception, [e.value for e in at.exception]
    [result] = at.session_state["compare_results"]
    assert result.question == "What runs containers?" and result.kind == "typed"
    assert result.rag.coverage == result.raw.coverage == 1.0  # the fake answers "Cloud Run runs containers."


def test_compare_refuses_a_bad_upload_by_its_name_and_line_then_runs_a_good_one(ollama):
    at = app()
    use_ollama(at, ollama.url)
    index_sample(at)
    at.switch_page("pages/compare.py").run()
    at.radio(key="c_source").set_value("Upload a file").run()
    bad = b'{"question": "What runs containers?"}\n["not", "an", "object"]\n'
    at.file_uploader(key="c_upload").set_value(("my-set.jsonl", bad, "application/jsonl")).run()
    assert not at.exception, [e.value for e in at.exception]
    assert any("my-set.jsonl, line 2" in e.value and "JSON array" in e.value for e in at.error)
    good = b'{"question": "What runs containers?", "answer_keys": ["Cloud Run"]}\n'
    at.file_uploader(key="c_upload").set_value(("my-set.jsonl", good, "application/jsonl")).run()
    at.button(key="c_run").click().run()
    [result] = at.session_state["compare_results"]
    assert result.rag.coverage == result.raw.coverage == 1.0


def test_compare_shows_failed_answers_as_errors_not_scores():
    at = app()
    index_sample(at)
    use_ollama(at, "http://127.0.0.1:9")  # nothing listens there
    at.switch_page("pages/compare.py").run()
    at.number_input(key="c_limit").set_value(2).run()
    at.button(key="c_run").click().run()
    assert not at.exception, [e.value for e in at.exception]
    results = at.session_state["compare_results"]
    assert len(results) == 2 and all(r.rag.error and r.raw.error for r in results)
    assert any("Every answer failed, so nothing was measured" in e.value for e in at.error)
    import pandas as pd

    [summary] = [d.value for d in at.dataframe if "rag_errors" in d.value.columns]
    assert summary.loc["all", "rag_errors"] == 2 and pd.isna(summary.loc["all", "raw_invented_unanswerable"])
    assert all(d.value["rag_error"].all() for d in at.dataframe if "rag_error" in d.value.columns)


# Issue 10: a room on the leader's index, and the defects a room sees ------------------------


def clear_button(at: AppTest):
    return next(b for b in at.button if b.label == "Clear chat")


def test_clear_chat_is_enabled_by_the_first_answer(ollama):
    at = app()
    use_ollama(at, ollama.url)
    assert clear_button(at).disabled
    at.chat_input[0].set_value("What is Cloud Run?").run()
    assert not at.exception
    assert not clear_button(at).disabled  # in the run that answered, not only after another redraw
    clear_button(at).click().run()
    assert not at.session_state["chat"].turns and clear_button(at).disabled


def test_answers_cannot_make_headings_maths_or_leak_special_tokens(ollama):
    ollama.state.answer = lambda messages: (
        "# Cloud Run\n<start_of_image>It costs $2 or $3.\n\n- one\n- two\n\n"
        "```\n# a comment\n```<end_of_turn>"
    )
    at = app()
    use_ollama(at, ollama.url)
    at.chat_input[0].set_value("What is Cloud Run?").run()
    [shown] = [m.value for m in at.markdown if "one" in m.value]
    assert "<start_of_image>" not in shown and "<end_of_turn>" not in shown
    assert not any(line.lstrip().startswith("#") for line in shown.split("```")[0].splitlines())
    assert "**Cloud Run**" in shown and "\\$2" in shown and "- one\n- two" in shown
    assert "```\n# a comment\n```" in shown  # code stays code


def test_an_answer_cut_at_the_token_limit_says_so(ollama):
    ollama.state.answer = lambda messages: "Cloud Run runs containers on demand and scales them to zero."
    at = app(rag_max_tokens="3")
    use_ollama(at, ollama.url)
    at.chat_input[0].set_value("What is Cloud Run?").run()
    assert at.session_state["chat"].turns[-1].raw.done_reason == "length"
    assert any("(cut at the 3-token limit)" in m.value for m in at.markdown)
    assert "tokens/s" not in texts(at)  # 3 tokens: a rate would be noise


def test_a_stopped_answer_keeps_what_streamed_at_once(ollama):
    """Streamlit starts the next run before the stopped one notices: the next run shows the partial text."""
    from pages.common.state import Chat, Turn
    from rag.chains import TokenEvent
    from rag.pipeline import make_chains
    from rag.settings import Settings
    from rag.side_by_side import SideBySide

    ollama.state.answer = lambda messages: "one two three four five six seven eight nine ten " * 5
    ollama.state.token_delay = 0.05
    _, raw = make_chains(Settings(llm=f"ollama:{ollama.url}", model="gemma2:9b"), None)
    run = SideBySide(None, raw, "Count?")
    events = run.events()
    tokens = 0
    while tokens < 4:  # the interrupted script consumed a few tokens, then stopped listening
        tokens += isinstance(next(events).event, TokenEvent)
    at = app()
    at.session_state["chat"] = Chat([Turn("Count?", run=run)])
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    turn = at.session_state["chat"].turns[0]
    assert turn.stopped and turn.raw.text.startswith("one two three")
    body = texts(at)
    assert "No answer." not in body and body.count("Stopped.") == 1
    assert any(m.value.startswith("one two three") for m in at.markdown)
    time.sleep(0.3)
    assert run.cancel.is_set() and run.results()["raw"] is turn.raw  # the workers stop; one answer


def test_index_builds_add_to_the_index_or_start_over_and_say_which(site):
    at = app()
    index_sample(at)
    at.text_area(key="urls").set_value(f"{site.url}/gemma.html").run()
    assert at.radio(key="index_mode").value == "add"  # asked once there is an index
    at.button(key="go_urls").click().run()
    assert not at.exception, [e.value for e in at.exception]
    assert at.session_state["index"].store.info.page_count == 8
    assert any("Added 1 pages to the current index: now 8 pages" in s.value for s in at.success)
    assert {m.label: m.value for m in at.metric}["Pages"] == "8"
    chunks = at.session_state["index"].store.info.chunks
    at.button(key="go_urls").click().run()  # the same page again replaces its chunks
    assert any("(1 already there: their chunks were replaced)" in s.value for s in at.success)
    store = at.session_state["index"].store
    assert store.info.page_count == 8 and len(store) == chunks == len(store.vectors)
    at.radio(key="index_mode").set_value("new").run()
    at.button(key="go_urls").click().run()
    assert at.session_state["index"].store.info.page_count == 1
    assert any("Started a new index: 1 pages" in s.value for s in at.success)


def test_loading_an_index_file_shows_its_numbers_and_names_the_users_file(site, tmp_path):
    at = app()
    index_sample(at)
    saved = at.session_state["index"].store.save(tmp_path / "guide.ragidx").read_bytes()
    other = app()
    other.switch_page("pages/index.py").run()
    other.text_area(key="urls").set_value(f"{site.url}/gemma.html").run()
    other.button(key="go_urls").click().run()
    assert {m.label: m.value for m in other.metric}["Pages"] == "1"
    other.file_uploader(key="index_file").set_value(("guide.ragidx", saved, "application/zip")).run()
    other.button(key="load_index").click().run()
    assert {m.label: m.value for m in other.metric}["Pages"] == "7"  # in the run that loaded it
    other.file_uploader(key="index_file").set_value(("my-notes.ragidx", b"garbage", "application/zip")).run()
    other.button(key="load_index").click().run()
    errors = " ".join(e.value for e in other.error)
    assert "my-notes.ragidx" in errors and "upload.ragidx" not in errors


def test_hosted_refusals_are_listed_and_the_stop_button_goes(site, monkeypatch):
    monkeypatch.setenv("WORKSHOP_HOSTED", "1")
    at = app()
    at.switch_page("pages/index.py").run()
    at.text_area(key="urls").set_value(f"{site.url}/gemma.html\nfile:///etc/passwd").run()
    at.button(key="go_urls").click().run()
    [error] = [e.value for e in at.error if "None of the pages" in e.value]
    assert f"{site.url}/gemma.html" in error and "private or local address" in error
    assert "file:///etc/passwd" in error and "Local files cannot be indexed" in error
    assert not [b for b in at.button if b.key == "stop_index"]


def test_progress_says_what_is_happening_at_least_every_2_s(site, local_embeddings):
    """A page that stalls 3 s: the progress line still moves, and says it is fetching."""
    from pages.common.building import run_build
    from rag.embeddings import CachedEmbeddings, EmbedderSpec
    from rag.settings import Settings

    class Recorder:
        def __init__(self) -> None:
            self.calls: list[tuple[float, str]] = []

        def progress(self, value: float, text: str) -> None:
            self.calls.append((time.monotonic(), text))

        def markdown(self, *args, **kwargs) -> None:
            pass

    bar = Recorder()
    spec = EmbedderSpec("local", "all-MiniLM-L6-v2")
    started = time.monotonic()
    _, report = run_build(
        Settings(),
        [f"{site.url}/slow.html", f"{site.url}/missing.html"],
        None,
        0,
        (CachedEmbeddings(local_embeddings, spec.id), spec),
        bar,
        Recorder(),
    )
    assert report.pages_ok == 1 and len(report.failures) == 1
    times = [started] + [t for t, _ in bar.calls]
    assert max(b - a for a, b in itertools.pairwise(times)) <= 2.0
    texts_seen = [text for _, text in bar.calls]
    assert any("Read 0 of 2 pages, 1 failed · fetching" in t for t in texts_seen)
    assert texts_seen[-1].startswith("Read 1 of 2 pages, 1 failed")  # never "2 of 2": one failed


def test_render_captions_say_only_what_means_something():
    from pages.common.render import cut_note, link_target, safe_markdown, source_title, timings_caption
    from rag.chains import Answer, Source, Timings

    first = Answer("Yes.", "m", timings=Timings(rewrite=0.0004, total=1.0, output_tokens=1, tokens_per_s=0.1))
    assert timings_caption(first) == "total 1.00 s · m"  # no "rewrite 0.00 s", no "0.1 tokens/s"
    rewritten = Answer("Yes.", "m", rewritten=True, timings=Timings(rewrite=0.5, total=2.0))
    assert "rewrite 0.50 s" in timings_caption(rewritten)
    assert cut_note(Answer("It", "m", done_reason="length"), 256) == "*(cut at the 256-token limit)*"
    assert cut_note(Answer("Done.", "m", done_reason="stop"), 256) == ""
    markdown = safe_markdown("## Title ##\nText\n===\n```py\n# kept")
    assert markdown == "**Title**\nText\n\\===\n```py\n# kept\n```"  # the cut-off code block is closed
    source = Source("Guide", "http://x/a#gpu", "…", 0.5, heading="Guide › GPUs › Memory")
    assert source_title(source) == "Guide › GPUs › Memory"
    assert source_title(Source("Guide", "http://x/a", "…", 0.5, heading="Memory")) == "Guide › Memory"
    gpus = Source("Cloud Run GPUs — Guide", "http://x/b", "…", 0.5, heading="Cloud Run GPUs › Billing")
    assert source_title(gpus) == "Cloud Run GPUs › Billing"
    spaced = "http://x/generator/Ninja Multi-Config.html#index-0-generator:Ninja (multi)"
    assert (
        link_target(spaced)
        == "http://x/generator/Ninja%20Multi-Config.html#index-0-generator:Ninja%20%28multi%29"
    )
    assert link_target("http://x/a%20b.html?q=1#c") == "http://x/a%20b.html?q=1#c"  # escapes kept


def test_the_build_log_shows_markup_in_urls_titles_and_errors_as_text():
    """The log is Markdown with HTML allowed (for <small>); a crawled link or a page title
    holding markup must not become markup in a participant's browser."""
    from langchain_core.documents import Document

    from pages.common.building import _log_page
    from rag.errors import FetchError
    from rag.indexing import PageEvent
    from rag.loading.loader import PageResult

    class Log:
        def __init__(self):
            self.texts = []

        def markdown(self, text, **_):
            self.texts.append(text)

    hostile = 'http://x/a"><img src=x onerror=alert(1)>.html'
    log = Log()
    _log_page(log, PageEvent(PageResult(hostile, [Document(page_content="t")], title="<b>T</b>"), 1))
    error = FetchError(hostile, "http-404", "The server answered 404 <i>Not Found</i>.")
    _log_page(log, PageEvent(PageResult(hostile, error=error), 2))
    assert len(log.texts) == 2
    tag = re.compile(r"(?<!\\)<(?:img|b|i)\b")  # "\<b>" is Markdown for a literal "<b>"
    assert not any(tag.search(t) for t in log.texts), log.texts


def test_the_leaders_index_loads_once_under_concurrent_first_use(tmp_path, local_embeddings):
    """Thirty sessions open the app within a second: one load, one shared object."""
    import threading

    from pages.common.state import shared_index
    from rag.embeddings import CachedEmbeddings, EmbedderSpec
    from rag.store import SKLearnStore

    spec = EmbedderSpec("local", "all-MiniLM-L6-v2")
    store = SKLearnStore(local_embeddings, spec.id)
    store.add_texts([f"Chunk {i} about Cloud Run." for i in range(20)], [{"url": "u"} for _ in range(20)])
    store.add_pages([("u", "Page")])
    path = str(store.save(tmp_path / "leader.ragidx"))
    opened: list[str] = []

    def opener(embedder_id: str):
        opened.append(embedder_id)
        time.sleep(0.2)  # a slow first load, so the other sessions arrive while it runs
        return CachedEmbeddings(local_embeddings, spec.id), spec

    results: list[object] = []
    gate = threading.Barrier(30)

    def session() -> None:
        gate.wait()
        results.append(shared_index(path, opener))

    threads = [threading.Thread(target=session) for _ in range(30)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert opened == [spec.id] and len(results) == 30
    assert len({id(r) for r in results}) == 1 and results[0].shared and len(results[0].store) == 20


def test_sessions_start_on_the_leaders_index_and_may_build_their_own(tmp_path, site):
    at = app()
    index_sample(at)
    path = at.session_state["index"].store.save(tmp_path / "leader.ragidx")
    first, second = app(rag_index=str(path)), app(rag_index=str(path))
    assert "index" not in first.session_state  # nothing copied into the session
    assert "Answering from the leader's index *leader.ragidx*: " in texts(first)
    from pages.common.state import shared_index

    assert shared_index(str(path)).store.info.page_count == 7
    first.switch_page("pages/index.py").run()
    first.radio(key="index_mode").set_value("new").run()
    first.text_area(key="urls").set_value(f"{site.url}/gemma.html").run()
    first.button(key="go_urls").click().run()
    first.switch_page("pages/chat.py").run()
    assert "Answering from your index" in texts(first) and "1 pages" in texts(first)
    second.run()
    assert "Answering from the leader's index" in texts(second)  # the other session is untouched
    assert shared_index(str(path)).store.info.page_count == 7
    first.switch_page("pages/index.py").run()
    first.button(key="use_shared").click().run()
    assert "index" not in first.session_state


def test_a_missing_leaders_index_is_a_sentence_and_the_chat_still_works(tmp_path, ollama):
    at = app(rag_index=str(tmp_path / "nowhere.ragidx"))
    assert any("No index at" in e.value and "nowhere.ragidx" in e.value for e in at.error)
    use_ollama(at, ollama.url)
    at.chat_input[0].set_value("What is Cloud Run?").run()
    assert at.session_state["chat"].turns[-1].raw.text == "Cloud Run runs containers."


def test_a_bare_ollama_target_uses_ollama_url_from_the_environment(ollama, monkeypatch):
    """Issue 10: RAG_LLM=ollama with OLLAMA_URL showed an empty URL and asked localhost:11434."""
    monkeypatch.setenv("RAG_LLM", "ollama")
    monkeypatch.setenv("OLLAMA_URL", ollama.url)
    monkeypatch.setenv("RAG_MODEL", "gemma2:9b")
    at = app()
    assert at.text_input(key="conn_url_ollama").value == ollama.url
    at.chat_input[0].set_value("What is Cloud Run?").run()
    assert not at.exception, [e.value for e in at.exception]
    assert at.session_state["chat"].turns[-1].raw.text == "Cloud Run runs containers."
    assert [r for r in ollama.state.requests if r.path == "/api/chat"]
