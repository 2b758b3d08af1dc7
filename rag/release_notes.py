"""Release notes, changelogs and "what's new" pages: found so that they come last.

They name every feature in passing and explain few of them, so they take first places for
feature questions whose answer is elsewhere; the retriever puts them after every other page
unless the question asks what changed (measured: docs/decisions.md, issue 12). A page is
release notes by its path or title (`is_release_notes`) or, where neither names it, by its
headings: most of them are versions ("Version 3.1.2", "2.28.1 (2022-06-29)",
"2015-10-16 - Release 3.9.1"; `by_headings`, thirteenth round).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from functools import lru_cache
from urllib.parse import urlsplit

from langchain_core.documents import Document

# Found by their path (whatsnew/, releases/, releaselog/, announce/, history/, changelog…,
# release-15.html, whatsnew-5.2.html, Vim's version9.html) or their title ("Django 3.2
# release notes").
RELEASE_NOTES_PATH = re.compile(
    r"(?:^|/)(?:whatsnew|releases|releaselog|relnotes|changelogs?|announce|history|news)/"
    r"|(?:^|/|md_)(?:whatsnew|releases?|releaselog|changelog|changes|news|history|relnotes)[-_]v?\d"
    r"|release[-_]?notes|(?:^|/|md_)whats?[-_]?new|new[-_]features[-_]\d|change[-_]?log"
    r"|(?:^|/|md_)version[-_]?\d+(?:[._]\d+)*\.[a-z]+$",
    re.I,
)
RELEASE_NOTES_TITLE = re.compile(
    r"release notes|change ?log|change history|what.s new|release history|version history|"
    r"^changes in|\brelease \d+\.\d",
    re.I,
)
# A page named just "changes", "news", "history" or "releases" is release notes only if its
# title agrees: SQLite's c3ref/changes.html documents sqlite3_changes().
RELEASE_NOTES_NAME = re.compile(r"(?:^|/|md_)(?:changes|news|history|releases?)(?:\.[a-z]+)?$", re.I)
RELEASE_NOTES_NAME_TITLE = re.compile(r"\b(?:changes|news|history|releases)\b", re.I)
ASKS_WHAT_CHANGED = re.compile(
    r"what.s new|\bnew in\b|change ?log|release notes|\bchanged in\b|\bdeprecat|\bremoved in\b|"
    r"\badded in\b|\bupgrad|\bmigrat",
    re.I,
)


@lru_cache(maxsize=65536)  # asked for each fused row of every search: once per page instead
def is_release_notes(url: str, title: str) -> bool:
    """Release notes, a changelog or a "what's new" page, by its URL's path or its title."""
    path = (urlsplit(url).path if "://" in url else url).rstrip("/")
    if RELEASE_NOTES_PATH.search(path) or RELEASE_NOTES_TITLE.search(title):
        return True
    return bool(RELEASE_NOTES_NAME.search(path) and RELEASE_NOTES_NAME_TITLE.search(title))


# A section heading that is a version: up to two words before it ("Version", "Release",
# "lxml", "Django"), a date or parenthesis after it (or a date before it), a permalink mark
# after it; or an ISO date alone. Not a numbered heading with words after its number ("16.2.4 History") nor a
# tutorial's numbered step ("Step 1.2").
_MARK = re.compile(r"[\u00b6#]+$")
_DATE_HEAD = re.compile(r"^(?:19|20)\d\d-\d\d-\d\d\s*[-\u2013\u2014:,]\s*")
_DATE_TAIL = re.compile(r"\s*(?:\([^()]*\)|[-\u2013\u2014:,]\s*[^-\u2013\u2014:,]*\b(?:19|20)\d\d\b.*)$")
_VERSION = re.compile(
    r"^(?:(?P<words>(?:[\w'.+-]+\s+){0,2})v?\d+(?:\.\d+)+[a-z0-9.-]*|(?:19|20)\d\d-\d\d-\d\d)$", re.I
)
_NOT_VERSIONS = frozenset(
    {
        "step",
        "part",
        "chapter",
        "section",
        "lesson",
        "exercise",
        "figure",
        "table",
        "example",
        "appendix",
        "listing",
        "level",
        "stage",
        "phase",
        "task",
    }
)
# At least this many version headings, and at least this share of the page's headings.
MIN_VERSION_HEADINGS = 3
VERSION_SHARE = 0.5


def is_version_heading(heading: str) -> bool:
    """Whether one heading (not a path) names a version or a release date."""
    text = _MARK.sub("", heading.strip()).strip()
    text = _DATE_TAIL.sub("", _DATE_HEAD.sub("", text)).strip()
    found = _VERSION.match(text)
    if found is None:
        return False
    words = (found.group("words") or "").lower().split()
    return not any(word in _NOT_VERSIONS for word in words)


def by_headings(headings: Iterable[str]) -> bool:
    """Whether a page whose chunks have these heading paths ("Changes › Version 3.1.2") is
    release notes: most of its distinct headings, at any level, are versions."""
    parts = {part.strip() for path in headings for part in path.split(" › ") if part.strip()}
    versions = sum(1 for part in parts if is_version_heading(part))
    return versions >= MIN_VERSION_HEADINGS and versions >= VERSION_SHARE * len(parts)


def pages_by_headings(documents: Sequence[Document], pages: dict[str, list[int]]) -> frozenset[str]:
    """The pages (keys of `pages`, each with its rows) whose headings make them release notes."""
    return frozenset(
        page
        for page, rows in pages.items()
        if by_headings(documents[row].metadata.get("heading") or "" for row in rows)
    )
