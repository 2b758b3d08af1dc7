"""Pages that are other pages joined into one: an all-in-one page.

mdBook writes `print.html`, every chapter again on one page, beside the chapters of every
book it builds; SQLite's `capi3ref.html` is its C API reference, each function also on a
page of its own. Such a page matches every question its chapters answer, and its chunk of the
answer often ranks beside the chapter's own, so it takes one of the k places for nearly every
question (the Rust Reference: all 36 of its answerable questions), and the chapter, the page
a reader wants, is pushed down or dropped as the duplicate. Which pages those are is read
off the corpus: a page is an aggregate when at least SHARE of its chunks are each the text
of a chunk on exactly one other page, and those other pages number at least SOURCES. Pages
that include a shared block (Git's man pages repeat the same option lists) have chunks found
on many pages each, or copy from a few pages only, and do not count. Aggregates come after
every other page in a result, as release notes do (rag/retrieval.py): the whole page, not
only its copied chunks, so a question only its own text answers (SQLite's `capi3ref.html`
copies half its chunks) finds it after the other pages, still within the search's depth.
Measured on every manual in bench/ (docs/decisions.md, issue 12, nineteenth round).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Mapping, Sequence
from typing import NamedTuple

SHARE = 0.4  # of a page's chunks, each the text of a chunk on one other page
SOURCES = 10  # other pages those chunks come from, at least (so a page has 10 chunks or more)


class Copies(NamedTuple):
    """One page's chunks, how many are each the text of a chunk on exactly one other page, and
    how many pages those come from."""

    chunks: int
    single: int
    sources: int

    @property
    def aggregate(self) -> bool:
        return self.single >= SHARE * self.chunks and self.sources >= SOURCES


def single_copies(
    bodies: Sequence[str], pages: Mapping[str, Sequence[int]], page_key: Callable[[str], str]
) -> dict[str, Copies]:
    """`Copies` of each page that counts as itself (a copy of another page counts as that one).
    `bodies`: each chunk's text as duplicates are compared; `pages`: each page's rows;
    `page_key`: the page a page counts as (copies are one page)."""
    held: dict[str, set[str]] = defaultdict(set)
    for page, rows in pages.items():
        for row in rows:
            held[bodies[row]].add(page_key(page))
    found: dict[str, Copies] = {}
    for page, rows in pages.items():
        key = page_key(page)
        if key != page:
            continue
        others = [held[bodies[row]] - {key} for row in rows]
        sources = [next(iter(o)) for o in others if len(o) == 1]
        found[key] = Copies(len(rows), len(sources), len(set(sources)))
    return found


def aggregate_pages(
    bodies: Sequence[str], pages: Mapping[str, Sequence[int]], page_key: Callable[[str], str]
) -> frozenset[str]:
    """The page keys of aggregates (arguments as `single_copies`)."""
    return frozenset(
        key for key, copies in single_copies(bodies, pages, page_key).items() if copies.aggregate
    )
