"""What the model reads: the best passages of the pages `search` finds (Retriever.passages)."""

from rag.chains import RagChain, SourcesEvent
from rag.llms import make_target
from rag.retrieval import SMALL_SITE, Retriever
from tests.rag.test_retrieval import _pages_store

GPU = [
    ("gpu.html", "A Cloud Run service with an L4 GPU needs at least 4 CPUs."),
    ("gpu.html", "A Cloud Run service with an L4 GPU needs at least 16 GiB of memory."),
    ("billing.html", "Cloud Run bills GPU instances per second while they run."),
    ("regions.html", "L4 GPUs are offered in the us-central1 region."),
]
FILLER = [(f"other{i}.html", f"Unrelated page {i} about cooking pasta.") for i in range(SMALL_SITE)]
QUESTION = "How many CPUs and how much memory does an L4 GPU service on Cloud Run need?"


def _texts(hits) -> list[str]:
    return [h.document.page_content for h in hits]


def _pages(hits) -> set[str]:
    return {h.document.metadata["url"] for h in hits}


def test_passages_read_a_pages_next_chunk_before_the_next_page(local_embeddings):
    retriever = Retriever(_pages_store(local_embeddings, [*GPU, *FILLER]))
    found, read = retriever.search(QUESTION, k=2), retriever.passages(QUESTION, k=2)
    assert sum("gpu.html" in url for url in _pages(found)) == 1 and len(_pages(found)) == 2  # a chunk a page
    assert sorted(_texts(read)) == sorted(text for page, text in GPU if page == "gpu.html")
    for k in (1, 2, 3, 4):  # only the pages search puts first, never another
        assert _pages(retriever.passages(QUESTION, k=k)) <= _pages(retriever.search(QUESTION, k=k))
        assert len(retriever.passages(QUESTION, k=k)) == k
    assert retriever.passages("   ", k=2) == []


def test_on_a_small_site_passages_are_the_search(local_embeddings):
    retriever = Retriever(_pages_store(local_embeddings, GPU))  # 3 pages: chunks fused one by one
    assert _texts(retriever.passages(QUESTION, k=3)) == _texts(retriever.search(QUESTION, k=3))


def test_the_chat_reads_passages_and_retrieve_ranks_pages(ollama, local_embeddings):
    retriever = Retriever(_pages_store(local_embeddings, [*GPU, *FILLER]))
    chain = RagChain(make_target(f"ollama:{ollama.url}"), retriever, model="gemma2:9b", k=2)
    sources = next(e for e in list(chain.stream(QUESTION)) if isinstance(e, SourcesEvent)).sources
    prompt = ollama.state.requests[-1].body["messages"][0]["content"]
    assert "4 CPUs" in prompt and "16 GiB of memory" in prompt
    assert [s.content for s in sources] == _texts(retriever.passages(QUESTION, k=2))
    assert _texts(chain.retrieve(QUESTION)[2]) == _texts(
        retriever.search(QUESTION, k=2)
    )  # what search scores
    plain = RagChain(make_target(f"ollama:{ollama.url}"), retriever, model="gemma2:9b", k=2, passages=False)
    listed = next(e for e in plain.stream(QUESTION) if isinstance(e, SourcesEvent)).sources
    assert [s.content for s in listed] == _texts(retriever.search(QUESTION, k=2))


def test_passages_keep_release_notes_last_and_weigh_a_follow_ups_question(local_embeddings):
    notes = (
        "releases/2.0.html",
        "Release 2.0: an L4 GPU service on Cloud Run needs 4 CPUs and 16 GiB of memory.",
    )
    pages = [*GPU, notes, *FILLER]
    store = _pages_store(local_embeddings, pages)
    retriever = Retriever(store, notes_penalty=None)  # release notes last, not weighed down
    every = len({page for page, _ in pages})  # search's first k pages are all of them
    assert "http://d/releases/2.0.html" in _pages(retriever.search(QUESTION, k=every))
    read = retriever.passages(QUESTION, k=every)  # one chunk too few for all: the notes' is left out
    assert len(read) == every and "http://d/releases/2.0.html" not in _pages(read)
    weighed = Retriever(store).passages(QUESTION, k=every)  # the default: among the others
    assert len(weighed) == every and "http://d/releases/2.0.html" in _pages(weighed)
    assert len(retriever.passages(QUESTION, k=50)) == len(pages)  # more than there are: every chunk once
    history = "What does Cloud Run bill for? Cloud Run bills GPU instances per second.\nAnd memory?"
    for k in (1, 2, 4):
        followed = retriever.passages(history, k=k, question="And memory?")
        assert _pages(followed) <= _pages(retriever.search(history, k=k, question="And memory?"))
    assert retriever.passages(QUESTION, k=0) == [] and retriever.search(QUESTION, k=0) == []


def test_a_page_of_copies_is_left_out_of_the_passages_as_of_the_search(local_embeddings):
    """A page whose best chunks copy chunks already read (a joined page) is dropped by `search`:
    its chunks are duplicates. Passages read more chunks a page, and must not bring it back
    through a chunk `search` never offered, which would put a page the sources never list
    into the model's prompt."""
    parts = [
        "An L4 GPU service on Cloud Run needs at least 4 CPUs.",
        "An L4 GPU service on Cloud Run needs at least 16 GiB of memory.",
        "An L4 GPU service on Cloud Run can scale to zero instances.",
    ]
    cooking = [f"Cooking pasta, chapter {i}: boil water, add salt, stir, wait." for i in range(4)]
    pages = [(f"part{i}.html", text) for i, text in enumerate(parts)]
    joined = [("all.html", text) for text in [*parts, *cooking]]
    near = [("near.html", "Cloud Run services on GPUs take a while to start.")]
    retriever = Retriever(_pages_store(local_embeddings, [*pages, *joined, *near, *FILLER]))
    question = "What does an L4 GPU service on Cloud Run need?"
    found, read = retriever.search(question, k=4), retriever.passages(question, k=4)
    assert "http://d/all.html" not in _pages(found)  # its three offered chunks were copies
    assert _pages(read) == _pages(found)
