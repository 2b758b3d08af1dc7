"""The manual's own name: found in its page titles, and taken out of a question's vector."""

import numpy as np

from rag.retrieval import SITE_WEIGHT, Retriever
from rag.site_words import MIN_PAGES, page_titles, site_words, without_site_words
from rag.store import pages_of
from tests.rag.pages import page, store_of

WEIGHT = 0.5  # measured, not taken: the default is none (an option)
SWI = [f"SWI-Prolog 9.0.4 Reference Manual: Section {n}" for n in ("3.1", "3.14", "5.6", "7.8", "10.9")]


def test_the_site_words_are_those_of_half_the_titles_or_more():
    # numbers never: a version is in every title, and in a question it is a value
    assert site_words(SWI) == {"swi", "prolog", "reference", "manual", "section"}
    sphinx = ["json — Python 3.11 documentation", "os — Python 3.11 documentation", "Glossary"]
    sphinx += ["re — Python 3.11 documentation", "sqlite3 — Python 3.11 documentation", "Index"]
    assert site_words(sphinx) == {"python", "documentation"}  # 4 of 6; json in 1
    assert site_words(SWI[: MIN_PAGES - 1]) == frozenset()  # too few titles to tell
    # stop words, letters and version tags are in every title too, but name nothing
    topics = ("Quickstart", "Views", "API", "CLI", "Blueprints")
    titles = [f"The {t} — Flask v18 Documentation (2.2.x)" for t in topics]
    assert site_words(titles) == {"flask", "documentation"}


def test_a_question_loses_the_words_made_only_of_site_words():
    words = site_words(SWI)
    assert (
        without_site_words("Can SWI-Prolog handle a rule like that?", words) == "Can handle a rule like that?"
    )
    assert without_site_words("Why is SWI-Prolog's stack so small?", words) == "Why is stack so small?"
    assert without_site_words("Is the stack small in SWI-Prolog's?", words) == "Is the stack small in"
    assert without_site_words("round(2.5) in SWI-Prolog 9.0.4", words) == "round(2.5) in 9.0.4"
    # a word with a part of its own stays ("swipl", "prolog_flag"); so does a question that
    # is all site words, and one without any (unchanged, so it is embedded once)
    assert without_site_words("set prolog_flag in swipl", words) == "set prolog_flag in swipl"
    assert without_site_words("SWI-Prolog manual", words) == "SWI-Prolog manual"
    spaced = "How  do I\ttable a predicate?"
    assert without_site_words(spaced, words) is spaced
    assert without_site_words("Can SWI-Prolog do it?", frozenset()) == "Can SWI-Prolog do it?"


class Recording:
    """An embedder that keeps the texts it embeds as queries."""

    def __init__(self, inner) -> None:
        self.inner, self.queries = inner, []

    def embed_documents(self, texts):
        return self.inner.embed_documents(texts)

    def embed_query(self, text):
        self.queries.append(text)
        return self.inner.embed_query(text)


def _manual() -> list:
    topics = ["Loading files", "Tabling", "Exceptions", "Threads", "Modules", "Strings"]
    docs = []
    for n, topic in enumerate(topics):
        docs += page(f"s{n}", f"Acme 2.1 Manual: Section {n}", [(topic, f"How {topic.lower()} work.")])
    return docs


def test_the_question_vector_is_blended_with_the_question_without_the_name(local_embeddings):
    recording = Recording(local_embeddings)
    store = store_of(recording, _manual())
    unit = lambda v: np.asarray(v, dtype=np.float32) / np.linalg.norm(v)  # noqa: E731
    asked, bare = "Can Acme table a predicate?", "Can table a predicate?"
    vector = Retriever(store, site_weight=WEIGHT).embed_query(asked)
    as_asked, without = unit(local_embeddings.embed_query(asked)), unit(local_embeddings.embed_query(bare))
    expected = unit((1 - WEIGHT) * as_asked + WEIGHT * without)
    assert np.allclose(vector, expected, atol=1e-5) and recording.queries == [asked, bare]
    # without the name, once; the baseline (plain) and a weight of 0 never take it out
    recording.queries.clear()
    plain = Retriever(store, site_weight=WEIGHT).embed_query("How do threads work?")
    assert recording.queries == ["How do threads work?"]
    assert np.allclose(plain, local_embeddings.embed_query("How do threads work?"), atol=1e-5)
    assert SITE_WEIGHT == 0.0
    for retriever in (Retriever(store, plain=True, site_weight=WEIGHT), Retriever(store)):
        recording.queries.clear()
        retriever.embed_query(asked)
        assert recording.queries == [asked]


def test_the_site_words_follow_the_store_as_pages_are_added(local_embeddings):
    recording = Recording(local_embeddings)
    docs = _manual()
    store = store_of(recording, docs[:2])  # two pages: too few titles to tell the name
    retriever = Retriever(store, site_weight=WEIGHT)
    retriever.embed_query("Can Acme table a predicate?")
    assert recording.queries == ["Can Acme table a predicate?"]
    store.add_vectors(
        docs[2:], np.asarray(local_embeddings.embed_documents([d.page_content for d in docs[2:]]))
    )
    recording.queries.clear()
    retriever.embed_query("Can Acme table a predicate?")
    assert recording.queries == ["Can Acme table a predicate?", "Can table a predicate?"]


def test_each_page_title_counts_once_however_many_chunks_the_page_has(local_embeddings):
    docs = page("a", "Intro — Acme", [(name, "x") for name in ("One", "Two", "Three", "Four", "Five")])
    docs += page("b", "Setup", [("One", "x")]) + page("c", "Usage", [("One", "x")])
    assert page_titles(docs, pages_of(docs)) == ["Intro — Acme", "Setup", "Usage"]
    docs += page("d", "Faq", [("One", "x")]) + page("e", "Api", [("One", "x")])
    retriever = Retriever(store_of(local_embeddings, docs), site_weight=WEIGHT)
    retriever.embed_query("Does Acme run?")
    assert retriever._site_words == frozenset()  # "acme": 1 page in 5 (by chunks, 5 in 9: the site's)


def test_searches_blend_without_deadlock_and_weight_0_computes_nothing(local_embeddings, monkeypatch):
    store = store_of(local_embeddings, _manual())
    retriever = Retriever(store, site_weight=WEIGHT)
    question = "How do threads work in Acme?"
    assert retriever.search(question, 2) and retriever.passages(question, 2)
    follow_up = "user: What are threads?\nassistant: Workers.\nuser: Can Acme run them?"
    assert retriever.search(follow_up, 2, question="Can Acme run them?")

    def fail(*_args):
        raise AssertionError("site words computed at weight 0")

    monkeypatch.setattr("rag.retrieval.site_words", fail)
    monkeypatch.setattr("rag.retrieval.page_titles", fail)
    assert Retriever(store).search(question, 2)
