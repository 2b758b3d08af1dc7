"""What each page is about, in its author's words: evidence for follow-up questions.

A page's outline is its title, its distinct section headings and the start of its first
section, embedded once per page. A page centroid (rag/retrieval.py) is pulled towards
whatever the page spends most words on; the outline says what the page is about as its
author put it (a reference page's name and one-line summary). A follow-up is searched with
its last exchange, which names the topic of the conversation: the outline's similarity to
that text tells which pages are about the topic. For single-turn questions it is not used:
it lowered their R@4 on the bench's manuals (docs/decisions.md, issue 12, fourteenth and
fifteenth rounds).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
from langchain_core.documents import Document
from langchain_core.embeddings import Embeddings

from .embeddings.cache import embed_array
from .store import page_of_rows, unit_rows

# MiniLM reads 256 word pieces and cuts the rest: the title and up to HEADING_CHARS of
# headings come first, so a long heading list cuts into the lead, not the other way round.
LEAD_CHARS = 300
HEADING_CHARS = 400


def section_heading(doc: Document) -> str:
    """The chunk's own section heading: the last part of its heading path ("Guide › Install")."""
    return (doc.metadata.get("heading") or "").split(" › ")[-1].strip()


def outline_text(documents: Sequence[Document], rows: Sequence[int]) -> str:
    """A page's title, its distinct section headings in order, and the start of its first
    section (without that section's heading line); `rows` are the page's chunks in order."""
    first = documents[rows[0]]
    headings: list[str] = []
    for row in rows:
        heading = section_heading(documents[row])
        if heading and heading not in headings:
            headings.append(heading)
    body = first.page_content
    path = first.metadata.get("heading")
    if path and body.startswith(path):
        body = body[len(path) :]
    lead = " ".join(body.split())[:LEAD_CHARS]
    title = first.metadata.get("title", "")
    return "\n".join(part for part in (title, "; ".join(headings)[:HEADING_CHARS], lead) if part)


@dataclass(frozen=True)
class Outlines:
    """Each page's outline vector (unit length) and each chunk's page among them."""

    pages: tuple[str, ...]  # in store order
    vectors: np.ndarray  # (pages, dims)
    page_of_row: np.ndarray  # per chunk: an index into `vectors`

    @classmethod
    def of(
        cls,
        documents: Sequence[Document],
        pages: Mapping[str, Sequence[int]],
        embeddings: Embeddings,
        kept: Mapping[str, np.ndarray] | None = None,
    ) -> Outlines:
        """Each page's outline (`pages`: each page's rows, in store order): the `kept` vector
        where there is one (a store keeps them, and its file carries them), else embedded."""
        kept = kept or {}
        missing = [key for key in pages if key not in kept]
        texts = [outline_text(documents, pages[key]) for key in missing]
        embedded = unit_rows(embed_array(embeddings, texts)).astype(np.float32)
        fresh = dict(zip(missing, embedded, strict=True))
        found = [kept[key] if key in kept else fresh[key] for key in pages]
        vectors = np.stack(found).astype(np.float32) if found else np.zeros((0, 0), dtype=np.float32)
        return cls(tuple(pages), vectors, page_of_rows(pages.values(), len(documents)))

    def by_page(self) -> dict[str, np.ndarray]:
        return dict(zip(self.pages, self.vectors, strict=True))

    def row_scores(self, vector: np.ndarray) -> np.ndarray:
        """Each chunk's page outline's similarity to the query vector."""
        if not len(self.vectors):
            return np.zeros(len(self.page_of_row), dtype=np.float32)
        return (self.vectors @ vector)[self.page_of_row].astype(np.float32)
