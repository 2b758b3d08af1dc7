"""A small model's context from evidence: the best sentences of the retrieved chunks, or none."""

import pytest
from langchain_core.documents import Document

from rag.chains import RagChain
from rag.evidence import Policy, rank, sentences
from rag.llms import make_target
from rag.prompts import NOT_FOUND

GUIDE = Document(
    "A service with an L4 GPU needs at least 4 CPUs and 16 GiB of memory; 8 CPUs and 32 GiB "
    "are recommended for serving models such as Gemma 2 9B. The workshop deploy uses 8 CPUs "
    "and 32 GiB. GPU services use instance-based billing: CPU is always allocated, and an "
    "instance is billed for its whole lifetime.",
    metadata={"title": "Cloud Run GPUs", "source": "cloud-run-gpu.html"},
)
OLLAMA = Document(
    "Ollama listens on port 11434 by default.\n\nSet OLLAMA_KEEP_ALIVE=-1 to keep the model loaded.",
    metadata={"title": "Ollama", "source": "ollama.html"},
)


def test_sentences_split_at_full_stops_paragraphs_and_list_items():
    text = "First point is here. Second point is here too.\n\n- a list item that is long\n"
    text += "- another long list item"
    assert sentences(text) == [
        "First point is here.",
        "Second point is here too.",
        "- a list item that is long",
        "- another long list item",
    ]


def test_the_sentence_that_holds_the_question_comes_first():
    best = rank("How much memory does a service with an L4 GPU need?", [OLLAMA, GUIDE])
    assert best[0].text.startswith("A service with an L4 GPU needs at least 4 CPUs and 16 GiB")
    assert best[0].title == "Cloud Run GPUs" and best[0].chunk == 1
    assert rank("Which port does Ollama listen on?", [OLLAMA, GUIDE])[0].text.startswith("Ollama listens")


def test_a_question_the_pages_do_not_answer_selects_nothing():
    policy = Policy(sentences=2, threshold=0.4)
    assert policy.select("How do I fine-tune Gemma on my own data with LoRA?", [GUIDE, OLLAMA]) == []
    chosen = policy.select("Why is my GPU service billed when idle?", [GUIDE, OLLAMA])
    assert len(chosen) == 2 and "billed for its whole lifetime" in chosen[0].text


class Fixed:
    """A retriever seam: always these chunks (the chain's own retrieval is tested elsewhere)."""

    def __init__(self, *docs: Document) -> None:
        from rag.retrieval import Hit

        self.hits = [Hit(d, 1.0, 1.0) for d in docs]

    def search(self, query: str, k: int, *, question: str | None = None):
        return self.hits[:k]

    passages = search  # what the chat reads: the same chunks here


@pytest.fixture
def answering(ollama):
    ollama.state.answer = lambda messages: "at least 4 CPUs and 16 GiB of memory"
    return make_target(f"ollama:{ollama.url}")


def test_the_model_reads_the_best_sentences_first(ollama, answering):
    policy = Policy(sentences=2, threshold=0.4, quote=False)
    chain = RagChain(answering, Fixed(OLLAMA, GUIDE), model="gemma2:9b", evidence=policy)
    answer = chain.invoke("How much memory does a service with an L4 GPU need?")
    assert answer.text == "at least 4 CPUs and 16 GiB of memory"
    system = ollama.state.requests[-1].body["messages"][0]["content"]
    assert "[1] Cloud Run GPUs\nA service with an L4 GPU needs at least 4 CPUs" in system
    assert "11434" not in system  # the other chunk's sentences did not make the cut


def test_a_small_model_answer_quotes_the_best_sentences_with_their_sources(ollama, answering):
    chain = RagChain(answering, Fixed(OLLAMA, GUIDE), model="gemma2:9b", evidence=Policy())
    answer = chain.invoke("How much memory does a service with an L4 GPU need?")
    assert answer.text.startswith("“A service with an L4 GPU needs at least 4 CPUs and 16 GiB of memory;")
    assert "” [2]" in answer.text and answer.done_reason == "quoted"
    assert answer.timings.first_token is not None
    assert not [r for r in ollama.state.requests if r.path == "/api/chat"]


def test_the_embedded_model_quotes_by_default_and_its_raw_column_stays_the_model(embedded_target):
    from rag.chains import RawChain

    chain = RagChain(embedded_target, Fixed(GUIDE, OLLAMA))
    assert chain.evidence == Policy()
    answer = chain.invoke("Which port does Ollama listen on by default?")
    assert "11434" in answer.text and answer.done_reason == "quoted"
    raw = RawChain(embedded_target).invoke("Which port does Ollama listen on by default?")
    assert raw.done_reason in ("stop", "length") and raw.text


def test_an_unanswered_question_says_so_without_calling_the_model(ollama, answering):
    chain = RagChain(answering, Fixed(GUIDE, OLLAMA), model="gemma2:9b", evidence=Policy(2, 0.4))
    answer = chain.invoke("How do I fine-tune Gemma on my own data with LoRA?")
    assert answer.text == NOT_FOUND and answer.done_reason == "not-found"
    assert answer.sources and not [r for r in ollama.state.requests if r.path == "/api/chat"]


def test_chat_models_keep_the_chunks(ollama, answering):
    chain = RagChain(answering, Fixed(GUIDE, OLLAMA), model="gemma2:9b")
    assert chain.evidence is None
    chain.invoke("Is fine-tuning covered?")
    system = ollama.state.requests[-1].body["messages"][0]["content"]
    assert "11434" in system and "instance-based billing" in system
