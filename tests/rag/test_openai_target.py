"""The `openai:URL` target (ChatOpenAI from langchain-openai) against a real OpenAI-compatible
server, llama-cpp-python's, serving the packaged Gemma 3 270M on loopback; and `cloudrun:URL`,
which asks a service which API it speaks and sends Google ID tokens either way."""

import json
import os
import subprocess
import sys
import threading

import pytest

from rag.auth import IdTokenSource
from rag.chains import RagChain, RawChain
from rag.compare import run_comparison, summarise
from rag.errors import AuthError, ModelError, TargetUnreachable
from rag.evaluation import load_questions
from rag.llms import make_target
from rag.llms.base import Delta, Finish, GenerationOptions
from rag.llms.openai import OLLAMA, OPENAI, CloudRunService
from rag.settings import Settings
from rag.side_by_side import compare, side_by_side
from tests.conftest import ROOT, SAMPLE_DOCS
from tests.servers.base import LocalServer, QuietHandler
from tests.servers.openai_server import ALIAS, LlamaCppServer

HI = [("human", "What is Cloud Run?")]
SHORT = GenerationOptions(max_tokens=16, temperature=0.0)


def stream(target, model="", options=SHORT):
    items = list(target.stream(HI, model, options))
    return "".join(i.text for i in items if isinstance(i, Delta)), items[-1]


@pytest.fixture(scope="module")
def llama():
    """llama.cpp's OpenAI-compatible server, once for this module, killed after."""
    with LlamaCppServer() as server:
        yield server


@pytest.fixture(scope="module")
def built(tmp_path_factory, local_embeddings):
    """The sample guide, indexed once: the store, and the file the CLI reads."""
    from rag.indexing import build_index
    from rag.loading.fetch import FetchConfig
    from rag.loading.loader import WebLoader
    from rag.splitting import get_splitter

    store, _ = build_index(
        WebLoader(FetchConfig()),
        local_embeddings,
        "local:all-MiniLM-L6-v2",
        crawl=(SAMPLE_DOCS / "index.html").as_uri(),
        splitter=("sections", get_splitter("sections")),
    )
    return store, store.save(tmp_path_factory.mktemp("idx") / "guide.ragidx")


@pytest.fixture(scope="module")
def retriever(built):
    from rag.retrieval import Retriever

    return Retriever(built[0])


@pytest.fixture(scope="module")
def index_path(built):
    return built[1]


@pytest.mark.slow  # llama.cpp's server
def test_streams_an_answer_and_reports_the_finish(llama):
    target = make_target(f"openai:{llama.url}")
    text, finish = stream(target)
    assert text.strip()
    assert isinstance(finish, Finish) and finish.done_reason in ("stop", "length")
    assert finish.output_tokens and 0 < finish.output_tokens <= SHORT.max_tokens
    assert finish.eval_seconds is None  # OpenAI servers do not report decode time; chains measure it
    status = target.check()
    assert status.ok and status.model == ALIAS and status.models == [ALIAS]


@pytest.mark.slow  # llama.cpp's server
def test_a_url_ending_in_v1_is_the_same_server(llama):
    target = make_target(f"openai:{llama.url}/v1/")
    assert target.url == llama.url and target.check().ok


@pytest.mark.slow  # llama.cpp's server
def test_a_model_the_server_lacks_names_what_it_serves(llama):
    status = make_target(f"openai:{llama.url}").check("gemma4:31b")
    assert not status.ok and "does not have the model gemma4:31b" in status.message
    assert ALIAS in status.fix


@pytest.mark.slow  # llama.cpp's server
def test_rag_chain_streams_timings_and_sources(llama, retriever):
    chain = RagChain(make_target(f"openai:{llama.url}"), retriever, options=SHORT)
    answer = chain.invoke("How much memory does a Cloud Run service with an L4 GPU need?")
    assert answer.text and answer.sources and answer.model == ALIAS
    assert answer.timings.first_token is not None and answer.timings.total >= answer.timings.first_token
    assert answer.timings.output_tokens and answer.timings.tokens_per_s


@pytest.mark.slow  # llama.cpp's server
def test_side_by_side_streams_both_columns(llama, retriever):
    target = make_target(f"openai:{llama.url}")
    rag, raw = RagChain(target, retriever, options=SHORT), RawChain(target, options=SHORT)
    events = list(side_by_side(rag, raw, "What does OLLAMA_KEEP_ALIVE do?"))
    assert not [e.error for e in events if e.error is not None]
    kinds = {(e.side, type(e.event).__name__) for e in events}
    for side in ("rag", "raw"):
        assert {(side, "TokenEvent"), (side, "AnswerEvent")} <= kinds
    both = compare(rag, raw, "Which port does Ollama listen on?")
    assert both["rag"].text and both["raw"].text and both["rag"].sources and not both["raw"].sources


@pytest.mark.slow  # llama.cpp's server
def test_compare_scores_real_answers_never_errors(llama, retriever):
    target = make_target(f"openai:{llama.url}")
    rag, raw = RagChain(target, retriever, options=SHORT), RawChain(target, options=SHORT)
    questions = load_questions(ROOT / "rag" / "data" / "sample-guide-qa.jsonl")[:2]
    results = list(run_comparison(rag, raw, questions))
    assert len(results) == 2 and not any(r.rag.error or r.raw.error for r in results)
    assert all(r.rag.total_s and r.raw.total_s for r in results)
    assert summarise(results)["all"]["n"] == 2


@pytest.mark.slow  # llama.cpp's server
def test_cli_ask_compare_json_returns_a_rag_and_a_raw_answer(llama, index_path):
    """The floor: `python -m rag ask Q --index I --llm openai:URL --compare --json`."""
    result = subprocess.run(
        [sys.executable, "-m", "rag", "ask", "What is the default port of Ollama?", "--index",
         str(index_path), "--llm", f"openai:{llama.url}", "--compare", "--json"],
        cwd=ROOT, capture_output=True, text=True, timeout=300,
        env={**os.environ, "RAG_MAX_TOKENS": "16"},
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    both = json.loads(result.stdout)
    assert set(both) == {"rag", "raw"}
    assert both["rag"]["text"] and both["raw"]["text"] and both["rag"]["model"] == ALIAS
    assert both["rag"]["sources"] and not both["raw"]["sources"]
    assert both["rag"]["timings"]["first_token"] is not None


@pytest.mark.slow  # llama.cpp's server
def test_the_sidebar_takes_an_openai_compatible_server_and_checks_it(llama):
    """The Connection panel (real Streamlit, AppTest): the target sticks, and its check answers."""
    from streamlit.testing.v1 import AppTest

    at = AppTest.from_file(str(ROOT / "streamlit_app.py"), default_timeout=180)
    at.run()
    at.radio(key="conn_kind").set_value("openai").run()
    assert at.text_input(key="conn_model").value == ""  # empty: the server's first model
    at.text_input(key="conn_url_openai").set_value(llama.url).run()
    next(b for b in at.button if b.label == "Check connection").click().run()
    assert not at.exception, [e.value for e in at.exception]
    assert at.radio(key="conn_kind").value == "openai"
    assert any(f"{ALIAS} answers at {llama.url}" in m.value for m in at.success)


def test_a_closed_port_is_unreachable_with_a_fix():
    target = make_target("openai:http://127.0.0.1:9")
    with pytest.raises(TargetUnreachable) as caught:
        stream(target, model="any")
    assert "http://127.0.0.1:9" in caught.value.message and caught.value.fix
    status = target.check()
    assert not status.ok and "Cannot reach" in status.message


# A hostile local server: what the target sends, and how refusals and junk are told ------------


class Recorder(QuietHandler):
    """/v1/models and a one-word streamed chat; 401 unless the bearer token is `good`."""

    def do_GET(self):
        self.server.owner.seen.append(dict(self.headers))
        if self.server.owner.html:
            return self._raw(200, b"<html>Sign in</html>", "text/html")
        if not self._allowed():
            return self._raw(401, b"Unauthorized", "text/plain")
        self.send_json(200, {"object": "list", "data": [{"id": "m1", "object": "model"}]})

    def do_POST(self):
        self.server.owner.seen.append(dict(self.headers))
        self.read_json()
        if not self._allowed():
            return self._raw(401, b"Unauthorized", "text/plain")
        chunk = {
            "id": "c",
            "object": "chat.completion.chunk",
            "model": "m1",
            "choices": [{"index": 0, "delta": {"content": "Hi"}, "finish_reason": "stop"}],
        }
        usage = {
            "id": "c",
            "object": "chat.completion.chunk",
            "model": "m1",
            "choices": [],
            "usage": {"prompt_tokens": 7, "completion_tokens": 1, "total_tokens": 8},
        }
        body = f"data: {json.dumps(chunk)}\n\ndata: {json.dumps(usage)}\n\ndata: [DONE]\n\n".encode()
        self._raw(200, body, "text/event-stream")

    def _allowed(self):
        return self.server.owner.accept(self.headers.get("Authorization", "").removeprefix("Bearer "))

    def _raw(self, status, body, kind):
        self.send_response(status)
        self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


def recorder(token=None, html=False, accept=None):
    server = LocalServer(Recorder)
    server.seen, server.html = [], html
    server.accept = accept or (lambda sent: token is None or sent == token)
    return server


def test_no_openai_credential_from_the_environment_reaches_the_server(monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", "sk-must-not-leak")
    monkeypatch.setenv("OPENAI_ORG_ID", "org-must-not-leak")
    with recorder() as server:
        text, finish = stream(make_target(f"openai:{server.url}"))
    assert text == "Hi" and finish.output_tokens == 1 and finish.prompt_tokens == 7 and finish.model == "m1"
    sent = json.dumps(server.seen)
    assert "must-not-leak" not in sent and all("Authorization" not in h for h in server.seen)


def test_the_bearer_token_setting_is_sent_and_a_refusal_says_how_to_fix_it():
    with recorder(token="good") as server:
        refused = make_target(f"openai:{server.url}")
        with pytest.raises(AuthError) as caught:
            stream(refused, model="m1")
        assert "401" in caught.value.message and "OPENAI_BEARER_TOKEN" in caught.value.fix
        status = refused.check()
        assert not status.ok and "OPENAI_BEARER_TOKEN" in status.fix
        assert "Expecting value" not in status.message
        allowed = make_target(f"openai:{server.url}", Settings(openai_token="good"))
        assert stream(allowed)[0] == "Hi" and "good" not in allowed.label and "good" not in repr(allowed.auth)


def test_the_async_client_sends_the_bearer_token_too():
    import asyncio

    with recorder(token="good") as server:
        allowed = make_target(f"openai:{server.url}", Settings(openai_token="good"))
        model = allowed.chat_model("m1", SHORT)

        async def answer() -> str:
            return "".join([str(chunk.content) async for chunk in model.astream("Say hi")])

        assert asyncio.run(answer()) == "Hi"
        assert server.seen[-1]["Authorization"] == "Bearer good"


class ColdStart(Recorder):
    """503 with Retry-After for the first `busy` chats, as a Cloud Run service scaling from zero."""

    def do_POST(self):
        owner = self.server.owner
        if owner.busy > 0:
            owner.busy -= 1
            self.read_json()
            self.send_json(503, {"error": {"message": "starting"}}, {"Retry-After": "0"})
            return
        super().do_POST()


def test_a_cold_service_is_retried_then_a_busy_one_is_a_sentence():
    from rag.errors import ServiceStarting
    from rag.llms.openai import OpenAITarget

    server = LocalServer(ColdStart)
    server.seen, server.html, server.accept, server.busy = [], False, lambda sent: True, 2
    with server:
        target = OpenAITarget(server.url, retries=2, backoff=0.01)
        assert stream(target, model="m1")[0] == "Hi"  # two 503s waited out
        server.busy = 10
        with pytest.raises(ServiceStarting) as caught:
            stream(target, model="m1")
    assert "503" in caught.value.message and "Wait a minute" in caught.value.fix


def test_an_html_page_instead_of_json_is_a_sentence():
    with recorder(html=True) as server:
        status = make_target(f"openai:{server.url}").check()
    assert not status.ok and "not JSON" in status.message and status.fix


# cloudrun:URL: which API, and an ID token either way -------------------------------------------


@pytest.fixture
def service_account(monkeypatch, tmp_path, google_auth):
    """Real google-auth with a service-account key whose token endpoint is on loopback."""
    monkeypatch.setenv("CLOUDSDK_CONFIG", str(tmp_path / "gcloud"))
    monkeypatch.setenv("GCE_METADATA_IP", "127.0.0.1:9")
    monkeypatch.setenv("GOOGLE_APPLICATION_CREDENTIALS", str(google_auth.service_account_file(tmp_path)))
    return google_auth


def service(url):
    return CloudRunService(url, source=IdTokenSource(url), retries=0)


def cloud_run_openai(google_auth):
    """An OpenAI-compatible service that, like Cloud Run, accepts only ID tokens for its own URL."""
    server = recorder()
    server.accept = lambda token: google_auth.state.valid(token, server.url)
    return server


def test_cloudrun_detects_an_openai_compatible_service_and_sends_id_tokens(service_account):
    with cloud_run_openai(service_account) as server:
        assert isinstance(make_target(f"cloudrun:{server.url}"), CloudRunService)
        target = service(server.url)
        text, finish = stream(target)
        assert target.api() == OPENAI and text == "Hi" and finish.model == "m1"
        status = target.check()
        assert status.ok and "OpenAI-compatible" in status.message
        tokens = {h.get("Authorization", "").removeprefix("Bearer ") for h in server.seen}
    assert len(tokens) == 1 and service_account.state.valid(tokens.pop(), server.url)


def test_cloudrun_refusing_the_token_says_how_to_get_invoker(service_account):
    with recorder(accept=lambda token: False) as server:
        status = service(server.url).check()
    assert not status.ok and "401" in status.message and "roles/run.invoker" in status.fix


def test_cloudrun_detects_ollama(ollama, service_account):
    target = service(ollama.url)
    text, finish = stream(target, model="gemma2:9b")
    assert target.api() == OLLAMA and text and finish.model == "gemma2:9b"
    assert ollama.state.requests[-1].path == "/api/chat"


def test_cloudrun_speaking_neither_api_is_a_sentence_and_is_asked_again(service_account):
    class Nothing(QuietHandler):
        def do_GET(self):
            self.send_json(404, {"detail": "Not Found"})

    with LocalServer(Nothing) as server:
        target = service(server.url)
        with pytest.raises(ModelError) as caught:
            stream(target)
        assert "neither Ollama's API nor an OpenAI-compatible one" in caught.value.message
        assert not target.check().ok and target._api is None  # not remembered


def test_cloudrun_detection_happens_once_under_concurrent_first_use(service_account):
    with cloud_run_openai(service_account) as server:
        target = service(server.url)
        threads = [threading.Thread(target=target.api) for _ in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(10)
    assert target._api == OPENAI and len(server.seen) == 2  # /api/version, then /v1/models: once
