"""Every manual's question set in bench/, with its further follow-ups: well formed, gold
pages that exist in the Debian package, answer keys that the gold pages hold (a wrong gold
path would score a pipeline wrongly without any error)."""

import re
import warnings

import pytest
from bs4 import BeautifulSoup, XMLParsedAsHTMLWarning

from bench.common import CORPORA, questions_of

KINDS = {"howto", "why", "factoid", "unanswerable", "followup"}


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
    if name == "python" or not corpus.root.exists():
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
