"""The RAG and raw chains, over a real index of the sample guide, against a protocol-faithful Ollama."""

import threading
import time

import pytest

from rag.chains import AnswerEvent, QueryEvent, RagChain, RawChain, SourcesEvent, TokenEvent
from rag.errors import ModelNotFound, TargetUnreachable
from rag.evidence import Policy
from rag.indexing import build_index
from rag.llms import make_target
from rag.loading.fetch import FetchConfig
from rag.loading.loader import WebLoader
from rag.retrieval import Retriever
from rag.side_by_side import compare, side_by_side
from rag.splitting import get_splitter
from tests.conftest import SAMPLE_DOCS

HISTORY = [
    {"role": "user", "content": "What GPU does the workshop deploy on Cloud Run?"},
    {"role": "assistant", "content": "An NVIDIA L4 GPU."},
]


@pytest.fixture(scope="module")
def retriever(local_embeddings):
    loader = WebLoader(FetchConfig())
    store, report = build_index(
        loader,
        local_embeddings,
        "local:all-MiniLM-L6-v2",
        crawl=(SAMPLE_DOCS / "index.html").as_uri(),
        max_pages=20,
        splitter=("sections", get_splitter("sections")),
    )
    assert report.pages_ok == 7
    return Retriever(store)


def rag_chain(target, retriever, **kwargs):
    return RagChain(target, retriever, model="gemma2:9b", **kwargs)


def test_first_turn_skips_the_rewrite_and_returns_sources(ollama, retriever):
    target = make_target(f"ollama:{ollama.url}")
    events = list(rag_chain(target, retriever).stream("How much memory does an L4 GPU service need?"))
    query, sources = events[0], events[1]
    assert isinstance(query, QueryEvent) and not query.rewritten
    assert query.query == "How much memory does an L4 GPU service need?"
    assert isinstance(sources, SourcesEvent) and len(sources.sources) == 4
    minimums = next(s for s in sources.sources if "16 GiB of memory" in s.content)
    assert "cloud-run-gpu.html#" in minimums.url and minimums.title.startswith("Cloud Run GPUs")
    assert [e.text for e in events if isinstance(e, TokenEvent)]
    answer = events[-1].answer
    assert answer.text == "Cloud Run runs containers." and answer.sources == sources.sources
    t = answer.timings
    assert t.rewrite is None and t.retrieve is not None and 0 < t.first_token <= t.total
    assert t.output_tokens == 4 and t.tokens_per_s > 0
    assert len(ollama.state.requests) == 1  # no rewrite call
    system = ollama.state.requests[0].body["messages"][0]
    assert (
        system["role"] == "system"
        and "use the following pieces of retrieved context" in system["content"].lower()
    )
    assert "16 GiB of memory" in system["content"]
    assert "prompt" not in system  # the prompt's kind (rag/prompts.py) stays on this side


def test_k_is_an_argument_and_the_chain_keeps_its_own(ollama, retriever):
    chain = rag_chain(make_target(f"ollama:{ollama.url}"), retriever)  # k=4
    question = "How much memory does an L4 GPU service need?"
    assert len(chain.retrieve(question, k=2)[2]) == 2 and chain.k == 4
    events = list(chain.stream(question, k=6))
    sources = next(e for e in events if isinstance(e, SourcesEvent)).sources
    assert len(sources) == 6 and chain.k == 4
    assert "[6] " in ollama.state.requests[-1].body["messages"][0]["content"]  # all six in the prompt
    assert len(chain.retrieve(question)[2]) == 4 and len(chain.invoke(question, k=3).sources) == 3


def test_the_base_model_layout_knows_the_answer_prompt_by_its_flag_not_its_wording():
    from langchain_core.messages import HumanMessage, SystemMessage

    from rag.prompts import ANSWER_PROMPT, ANSWER_SYSTEM, RAW_PROMPT, render_completion

    flagged = ANSWER_PROMPT.format_messages(
        context="[1] Guide\nL4 needs 16 GiB.", messages=[HumanMessage("Hi")]
    )
    prompt, stops = render_completion(flagged)
    assert prompt.startswith("Context:\n[1] Guide\nL4 needs 16 GiB.") and stops == ['"', "\n\n"]
    lookalike = SystemMessage(ANSWER_SYSTEM.replace("{context}", "[1] Guide"))
    plain, plain_stops = render_completion([lookalike, HumanMessage("Hi")])
    assert plain.startswith("You are an assistant") and plain.endswith("Answer:") and plain_stops == []
    raw = RAW_PROMPT.format_messages(messages=[HumanMessage("Hi")])
    assert render_completion(raw) == ("Question: Hi\nAnswer:", [])


def test_follow_ups_are_rewritten_by_the_model_in_rewrite_mode(ollama, retriever):
    ollama.state.answer = lambda messages: (
        "Cloud Run L4 GPU minimum memory" if "Rewrite a query" in messages[0]["content"] else "16 GiB."
    )
    chain = rag_chain(make_target(f"ollama:{ollama.url}"), retriever, history_mode="rewrite")
    answer = chain.invoke("And how much memory?", HISTORY)
    assert answer.rewritten and answer.query == "Cloud Run L4 GPU minimum memory"
    assert answer.text == "16 GiB." and answer.timings.rewrite is not None
    rewrite, final = ollama.state.requests
    assert [m["role"] for m in rewrite.body["messages"]] == ["system", "user", "assistant", "user"]
    assert final.body["messages"][-1] == {"role": "user", "content": "And how much memory?"}
    assert any("16 GiB" in s.content for s in answer.sources)


def test_auto_mode_rewrites_for_ollama_and_uses_history_for_the_embedded_model(
    ollama, retriever, embedded_target
):
    assert rag_chain(make_target(f"ollama:{ollama.url}"), retriever).effective_history_mode == "rewrite"
    chain = rag_chain(embedded_target, retriever)
    assert chain.effective_history_mode == "history"
    query, rewritten, hits = chain.retrieve("And how much memory?", HISTORY)
    assert not rewritten and query.startswith("What GPU does the workshop deploy")
    assert any("16 GiB" in h.document.page_content for h in hits)


def test_a_history_query_also_weighs_the_bare_question_and_a_rewrite_does_not(ollama, retriever):
    def texts(hits):
        return [h.document.page_content for h in hits]

    chain = rag_chain(make_target(f"ollama:{ollama.url}"), retriever, history_mode="history")
    query, _, hits = chain.retrieve("And how much memory?", HISTORY)
    assert texts(hits) == texts(retriever.search(query, chain.k, question="And how much memory?"))
    assert texts(hits) != texts(retriever.search(query, chain.k))  # the question counted
    ollama.state.answer = lambda messages: "Cloud Run L4 GPU minimum memory"
    chain = rag_chain(make_target(f"ollama:{ollama.url}"), retriever, history_mode="rewrite")
    query, rewritten, hits = chain.retrieve("And how much memory?", HISTORY)
    assert rewritten and texts(hits) == texts(retriever.search(query, chain.k))


def test_raw_chain_has_no_retrieval(ollama):
    answer = RawChain(make_target(f"ollama:{ollama.url}"), model="gemma2:9b").invoke(
        "What is Cloud Run?", HISTORY
    )
    assert answer.sources == [] and answer.text == "Cloud Run runs containers."
    roles = [m["role"] for m in ollama.state.requests[-1].body["messages"]]
    assert roles == ["system", "user", "assistant", "user"]


def test_side_by_side_streams_both_at_once(ollama, retriever):
    ollama.state.token_delay = 0.15
    target = make_target(f"ollama:{ollama.url}")
    started = time.perf_counter()
    order = [
        (e.side, type(e.event).__name__)
        for e in side_by_side(
            rag_chain(target, retriever), RawChain(target, model="gemma2:9b"), "What is Cloud Run?"
        )
    ]
    elapsed = time.perf_counter() - started
    assert ollama.state.max_active == 2
    assert elapsed < 2 * 4 * 0.15  # not one after the other
    tokens = [side for side, kind in order if kind == "TokenEvent"]
    assert tokens.index("raw") < len(tokens) - 1 - tokens[::-1].index("rag")  # interleaved
    assert order.count(("rag", "AnswerEvent")) == order.count(("raw", "AnswerEvent")) == 1


def test_one_side_failing_leaves_the_other_answering(ollama, retriever):
    good = make_target(f"ollama:{ollama.url}")
    down = make_target("ollama:http://127.0.0.1:9")
    results = compare(rag_chain(good, retriever), RawChain(down), "What is Cloud Run?")
    assert isinstance(results["raw"], TargetUnreachable)
    assert results["rag"].text == "Cloud Run runs containers."
    missing = compare(
        rag_chain(
            good,
            retriever,
        ),
        RawChain(good, model="nope:1b"),
        "Q",
    )
    assert isinstance(missing["raw"], ModelNotFound)


def test_stop_ends_the_stream_early(ollama, retriever):
    ollama.state.answer = lambda messages: " ".join(["word"] * 50)
    ollama.state.token_delay = 0.05
    cancel = threading.Event()
    chain = rag_chain(make_target(f"ollama:{ollama.url}"), retriever)
    seen = 0
    answer = None
    for event in chain.stream("What is Cloud Run?", cancel=cancel):
        if isinstance(event, TokenEvent):
            seen += 1
            if seen == 3:
                cancel.set()
        if isinstance(event, AnswerEvent):
            answer = event.answer
    assert answer.done_reason == "cancelled" and answer.text.split() == ["word"] * 3


@pytest.mark.slow
def test_embedded_model_answers_from_context(embedded_target, retriever):
    question = "How many CPUs and how much memory does a Cloud Run service with an L4 GPU need?"
    answer = RagChain(embedded_target, retriever).invoke(question)  # quoted from the sources
    assert "at least 4 CPUs and 16 GiB of memory" in answer.text and answer.done_reason == "quoted"
    assert any("16 GiB" in s.content for s in answer.sources)
    generated = RagChain(embedded_target, retriever, evidence=Policy(quote=False)).invoke(question)
    assert generated.text and generated.timings.output_tokens > 0
    assert generated.done_reason in ("stop", "length")
