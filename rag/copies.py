"""Copies of a page, found in the index itself, so that copies do not fill the results.

A manual can serve a chapter under two names (Exim's `ch-x.html` and `chNN.html`), install one
man page under three command names (Postfix), or print every chapter again for MathJax (GAP's
`chapN_mj.html`: the same words, its formulas written `\\(\\mathbb{Z}\\)`). Each copy group
counts as one page in the retriever's cap and page fusion (docs/decisions.md, issue 12).
"""

from __future__ import annotations

import hashlib
import re
from collections import defaultdict
from collections.abc import Sequence

from langchain_core.documents import Document

from .store import pages_of

# Pages with the same title whose words share at least this share of their 4-word runs
# (Jaccard) are copies: 89 of GAP's 90 chapters and their MathJax copies; a CMake property
# documented for directories and for targets, or libadwaita's method beside its virtual
# function, share under 0.9 (thirtieth round).
NEAR = 0.9
# Titles shared by more pages than this are a site's one title, not a sign of copies.
NEAR_GROUP_MAX = 12
# Words, any script; a lone non-ASCII letter is left out (a MathJax copy writes χ as \chi).
_WORD = re.compile(r"[^\W_]{2,}|[a-z0-9]")
_TEX = re.compile(r"\\[a-zA-Z]+")  # a MathJax copy's macros: the other copy prints the symbol


def copies_of(documents: Sequence[Document], pages: dict[str, list[int]] | None = None) -> dict[str, str]:
    """Each page's copy group, keyed by the first page stored: pages whose chunks are the same
    texts in the same order, or that share their title and nearly all their words in order."""
    pages = pages_of(documents) if pages is None else pages
    groups = _exact(documents, pages)
    near = _near(documents, pages, groups)
    return {page: near.get(first, first) for page, first in groups.items()}


def _exact(documents: Sequence[Document], pages: dict[str, list[int]]) -> dict[str, str]:
    first: dict[bytes, str] = {}
    groups: dict[str, str] = {}
    for page, rows in pages.items():
        digest = hashlib.sha256("\x00".join(documents[r].page_content for r in rows).encode()).digest()
        groups[page] = first.setdefault(digest, page)
    return groups


def _near(
    documents: Sequence[Document], pages: dict[str, list[int]], groups: dict[str, str]
) -> dict[str, str]:
    """Each near copy's first page, among the pages `groups` keeps as firsts."""
    by_title: dict[str, list[str]] = defaultdict(list)
    for page, rows in pages.items():
        title = " ".join(str(documents[rows[0]].metadata.get("title") or "").split())
        if title:
            by_title[title].append(page)
    near: dict[str, str] = {}
    for titled in by_title.values():
        same = [page for page in titled if groups[page] == page]
        if len(titled) > NEAR_GROUP_MAX or len(same) < 2:
            continue
        runs = [_runs(documents, pages[page]) for page in same]
        for i in range(1, len(same)):
            for j in range(i):
                if same[j] not in near and runs[i] and runs[j] and _jaccard(runs[i], runs[j]) >= NEAR:
                    near[same[i]] = same[j]
                    break
    return near


def _runs(documents: Sequence[Document], rows: list[int]) -> set[int]:
    words = _WORD.findall(_TEX.sub(" ", " ".join(documents[r].page_content for r in rows)).lower())
    return set(map(hash, zip(words, words[1:], words[2:], words[3:], strict=False)))  # none under 4 words


def _jaccard(a: set, b: set) -> float:
    return len(a & b) / len(a | b)
