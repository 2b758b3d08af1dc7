"""The manual's own name, as its page titles spell it, and a question without it.

Users name the product they ask about ("Can SWI-Prolog handle a rule like that?", "How do I
get a decimal out of Maxima?"), and the name pulls a question's vector towards the few chunks
that say it: pages about the product itself (versions, portability, installation), not the
page that answers. The name is in most of the manual's page titles ("SWI-Prolog 9.0.4
Reference Manual: Section 2.12", "json — Python 3.11 documentation"), so it is found from the
index alone: the words of at least SHARE of the pages' titles. BM25 needs none of this (the
name's IDF is low already); the retriever can blend the question's vector with the vector of
the question without those words (`Retriever(site_weight=...)`). Measured on every manual in
issue 12's twenty-fourth round and not taken: it gains on some manuals and loses on others
(docs/decisions.md).
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable, Sequence

from langchain_core.documents import Document
from sklearn.feature_extraction.text import ENGLISH_STOP_WORDS

SHARE = 0.5  # a word in at least half of the pages' titles is the site's, not a topic's
MIN_PAGES = 5  # fewer pages than this: too few titles to tell the site's words from topics
_PARTS = re.compile(r"[^\W_]+")  # "SWI-Prolog" → swi, prolog; "3.11" → 3, 11
_POSSESSIVE = re.compile(r"['’]s(?=\W*$)", re.I)


def _parts(word: str) -> list[str]:
    """A word's letter and digit runs, lower-cased, without a possessive "'s"."""
    return _PARTS.findall(_POSSESSIVE.sub("", word).lower())


def page_titles(documents: Sequence[Document], pages: dict[str, list[int]]) -> list[str]:
    """Each page's title, once (its first chunk's; `pages`: each page's rows, store.pages_of)."""
    return [str(documents[rows[0]].metadata.get("title") or "") for rows in pages.values()]


def site_words(titles: Iterable[str]) -> frozenset[str]:
    """The word parts in at least SHARE of these page titles (one title a page) that can
    name a product: not a stop word ("The Rust Reference"), a letter ("2.2.x") or anything
    with a digit (a version, "3.11", "v18": in a question it is a value, "round(2.5)")."""
    counts: Counter[str] = Counter()
    pages = 0
    for title in titles:
        pages += 1
        counts.update({part for word in title.split() for part in _parts(word)})
    if pages < MIN_PAGES:
        return frozenset()
    return frozenset(word for word, n in counts.items() if n >= SHARE * pages and _names(word))


def _names(part: str) -> bool:
    return len(part) > 1 and part not in ENGLISH_STOP_WORDS and not any(c.isdigit() for c in part)


def without_site_words(query: str, words: frozenset[str]) -> str:
    """The query without its words made only of the site's words; the query itself when
    nothing is left, or when it has none of them."""
    if not words:
        return query
    split = query.split()
    kept = [word for word in split if not (found := _parts(word)) or not set(found) <= words]
    return " ".join(kept) if kept and len(kept) < len(split) else query
