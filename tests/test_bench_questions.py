"""Every manual's question set in bench/, with its further follow-ups: well formed, gold
pages that exist in the Debian package, answer keys that the gold pages hold (a wrong gold
path would score a pipeline wrongly without any error)."""

import re
import warnings

import pytest
from bs4 import BeautifulSoup, XMLParsedAsHTMLWarning

from bench.common import CORPORA, SINCE_TWENTY_FIRST, available, page_paths, questions_of
from rag.compare import keys_stated

KINDS = {"howto", "why", "factoid", "unanswerable", "followup"}
# Sets whose keys are also checked the way answers are scored (whole words after
# rag/compare.py's normalise): those written since issue 12's twenty-first round. Older sets
# hold keys it cannot find in their gold pages (docs/decisions.md).
STATED = SINCE_TWENTY_FIRST


def _text(path) -> str:
    with warnings.catch_warnings():  # Git's pages are XHTML; the HTML parser reads them right
        warnings.simplefilter("ignore", XMLParsedAsHTMLWarning)
        soup = BeautifulSoup(path.read_bytes(), "lxml")
    return " ".join(soup.get_text(" ").split()).lower()


@pytest.mark.parametrize("name", sorted(CORPORA))
def test_question_set_is_well_formed_and_its_gold_pages_answer(name):
    corpus = CORPORA[name]
    questions = questions_of(corpus)  # with its further follow-ups, where it has some
    assert len(questions) >= 24 and len({q.id for q in questions}) == len(questions)
    for q in questions:
        assert bool(q.history) == (q.kind == "followup"), q.id
        assert bool(q.gold) == (q.kind != "unanswerable"), q.id
    if name == "python" or not available(corpus):
        return  # the shared set's kinds are its own; a missing package is setup's to install
    assert {q.kind for q in questions} <= KINDS
    for q in questions:
        pages = [corpus.root / g for g in q.gold]
        assert all(p.exists() for p in pages), q.id
        texts = [_text(p) for p in pages]
        for key in q.answer_keys:
            squashed = re.sub(r"\s+", " ", key.lower())
            assert any(squashed in t or squashed.replace(" ", "") in t.replace(" ", "") for t in texts), (
                q.id,
                key,
            )


@pytest.mark.parametrize("name", STATED)
def test_answer_keys_can_be_stated_as_answers_are_scored(name):
    """A key `keys_stated` cannot find in any gold page (`falsetick` inside `sel_falsetick`,
    `-g`, which it reads as the word `g`) would score every answer short, or any answer right."""
    corpus = CORPORA[name]
    if not available(corpus):
        return  # a missing package is setup's to install
    for q in questions_of(corpus):
        texts = [_text(corpus.root / g) for g in q.gold]
        for key in q.answer_keys:
            assert any(keys_stated(t, [key])[0] for t in texts), (q.id, key)


@pytest.mark.parametrize("name", sorted(CORPORA))
def test_every_gold_page_is_served(name):
    """A gold page the benchmark does not serve (Shorewall's man pages sit in a linked
    folder, which `Path.rglob` does not enter) would count as a miss of every pipeline."""
    corpus = CORPORA[name]
    if not available(corpus):
        return  # a missing package is setup's to install
    served = set(page_paths(corpus))
    assert not {g for q in questions_of(corpus) for g in q.gold} - served
