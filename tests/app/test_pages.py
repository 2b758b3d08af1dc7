"""Every page with Streamlit's AppTest: widgets, session state, errors shown, sessions isolated.

The model target is a protocol-faithful Ollama server on loopback (fast and
deterministic); one test runs the embedded model for real.
"""

from __future__ import annotations

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
    at.text_area(key="urls").set_value(
        f"{site.url}/gemma.html\n{site.url}/missing.html\n{site.url}/report.pdf"
    ).run()
    at.button(key="go_urls").click().run()
    assert not at.exception
    body = texts(at)
    assert "404 Not Found" in body and "application/pdf" in body
    assert at.session_state["index"].store.info.page_count == 1


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
