"""Pages that come up for everything, found by searching the manual's own headings.

Some pages sit in the first four results for a large share of questions and answer few of
them: a user manual that retells every command page (Git's `user-manual.html`: in the first
four for 12 of 24 questions, the answer to none), an overview chapter, an index, an options
reference. Which pages those are can be read off the corpus itself: up to SAMPLE of its
distinct section headings are searched as questions, and a page's count is how often it is
among the first TOP results for a heading it does not have itself. Score fusion then weighs
-log(1 + count) as a page signal (rag/retrieval.py's HUB_PAGE_WEIGHT), so a page that comes
up for everything needs more evidence to lead. Measured leave-one-manual-out on every manual
in bench/ (docs/decisions.md, issue 12, sixteenth round). A vector's nearness to the corpus's
mean direction, the hub penalty measured before, judged chunks rather than what the search
does with them, and lost. The headings are embedded in one batch as documents (for MiniLM
and Ollama the same vectors as queries; an embedder with task types, Vertex AI's, embeds
them as documents).
"""

from __future__ import annotations

import random
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np
from langchain_core.documents import Document

from .outlines import section_heading

SAMPLE = 400  # headings searched: enough to count pages that come up for many of them
TOP = 5  # a page counts when it is among the first TOP results for a heading not its own


def probe_headings(
    documents: Sequence[Document], page_key: Callable[[Document, int], str]
) -> list[tuple[str, frozenset[str]]]:
    """Up to SAMPLE of the distinct section headings of two words or more, each with the pages
    that have it (a page with a "Return value" section of its own answers that heading: it is
    no hub for it); the same sample each time (a fixed seed), so an index ranks alike each
    time it is loaded."""
    seen: dict[str, set[str]] = {}
    for row, doc in enumerate(documents):
        heading = section_heading(doc)
        if len(heading.split()) >= 2:
            seen.setdefault(heading, set()).add(page_key(doc, row))
    found = sorted((heading, frozenset(pages)) for heading, pages in seen.items())
    return random.Random(0).sample(found, min(SAMPLE, len(found)))


@dataclass(frozen=True)
class HubPages:
    """How often each page came up for the other pages' headings, and per chunk the signal."""

    counts: dict[str, int]  # by page key; pages that never came up for another's heading: absent
    rows: np.ndarray  # per chunk: -log(1 + its page's count)

    @classmethod
    def of(cls, keys: Sequence[str], counts: Mapping[str, int]) -> HubPages:
        """From each chunk's page key (in store order) and the pages' counts."""
        rows = -np.log1p(np.array([counts.get(key, 0) for key in keys], dtype=np.float64))
        return cls(dict(counts), rows.astype(np.float32))
