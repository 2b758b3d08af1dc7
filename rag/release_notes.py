"""Release notes, changelogs and "what's new" pages: found so that they are weighed down.

They name every feature in passing and explain few of them, so they take first places for
feature questions whose answer is elsewhere; the retriever weighs them down (NOTES_PENALTY
in rag/retrieval.py; after every other page where pages are fused by rank) unless the
question asks what changed (telling of a version change too: "after upgrading",
"with older versions", "moved to 22.05", "which release fixed") or quotes words the page
prints (a message the user saw: `quoted_spans`; measured: docs/decisions.md, issue 12). A
page is release notes by its path or title (`is_release_notes`; a page only named and
titled "History" or "Changes" must also print a version or a year, thirty-sixth round) or,
where neither names it, by its headings: most of them are versions ("Version 3.1.2",
"2.28.1 (2022-06-29)", "2015-10-16 - Release 3.9.1"; `by_headings`, thirteenth round).
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Sequence
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
    r"^changes in|\brelease \d+\.\d|release series",
    re.I,
)
# A page named just "changes", "news", "history" or "releases" is release notes only if its
# title is that word, after at most two more ("Changes", "Recent SQLite News", "libvirt:
# libvirt releases"), before the site's name: SQLite's c3ref/changes.html documents
# sqlite3_changes(), fish's cmds/history.html is "history - show and manipulate command
# history" and PostgreSQL's history.html "A Brief History of PostgreSQL".
RELEASE_NOTES_NAME = re.compile(r"(?:^|/|md_)(?:changes|news|history|releases?)(?:\.[a-z]+)?$", re.I)
NAME_WORDS = frozenset({"changes", "news", "history", "releases"})
NAME_TITLE_WORDS = 3
# Such a page must also print a version or a year: release notes and a project's history date
# what they tell, a page on a program's command history (cmd2's features/history.html,
# "History") does neither (issue 12, thirty-sixth round).
YEAR = re.compile(r"\b(?:19|20)\d\d\b")
# "History — pytest documentation": one space each side, as `\s+` on both sides backtracks
# quadratically over a title of many spaces; split() takes the rest.
_SITE_NAME = re.compile(r"\s[\u2013\u2014|]\s")
ASKS_WHAT_CHANGED = re.compile(
    r"what.s new|\bnew in\b|change ?log|release notes|\bchanged in\b|\bdeprecat|\bremoved in\b|"
    r"\badded in\b|\bupgrad|\bmigrat|"
    # "what replaced it?" asks for the change that dropped it (thirty-third round), "what
    # was it called before?" for the one that renamed it (thirty-seventh)
    r"\bwhat (?:has |have )?replaced\b|\bwhat replaces\b|"
    r"\bwhat (?:was|were) (?:it|this|that|they|these|those) (?:called|named) "
    r"(?:before|previously)(?=\s*[?.!]|$)|"
    # a version change: "with older versions" (not "a previous version of a file"), "after
    # updating ImageMagick" or "to 2.1" (not "after updating it"), "moved to Slurm 22.05"
    # (not "went to 3.2 GB"), "moving from WTForms 2 to 3" or "from 1.1 to 1.2" (thirty-
    # second round; not "from 2 to 3 workers" nor "from 2.4 to 5 GHz"); "older crmsh
    # versions" and "since which release" (thirty-eighth)
    r"\b(?:older|earlier|previous) (?:\w+ )?(?:versions?|releases?)\b(?! of)|"
    r"\bsince (?:which|what) (?:\w+ )?(?:version|release)\b|"
    r"\bafter (?:\w+ )?updat(?:ing|ed) (?:to |from )?(?:(?-i:[A-Z])|v?\d)|"
    r"\b(?:moved|switched|went) to (?:(?:(?-i:[A-Z])\w* |version |v)\d+\.\d|\d+\.\d+\.\d)|"
    r"\b(?:mov|switch|port)(?:e|ed|es|ing)? from (?:(?-i:[A-Z])\w* v?\d+(?:\.\d+)*(?:\.x)? to "
    r"(?:(?-i:[A-Z])\w* )?v?\d|v?\d+\.\d+(?:\.\d+)*(?:\.x)? to v?\d+\.\d)|"
    # "which psycopg_pool release fixed", "in which release was that dropped", "in which
    # pexpect release did it change" (thirtieth round; not "which versions are added to ...");
    # "in which release series was it removed" (thirty-first); "in which release did it go
    # away" (thirty-third); "in which release did it become the default" (thirty-seventh)
    r"\b(?:which|what) (?:\w+ ){0,2}(?:version|release)s? (?:series |line |branch )?(?:of \w+ )?"
    r"(?:(?:(?:was|were|is|are) "
    r"(?:it|this|that|they|these|those) |was |were |has |had |have |got |first )?"
    r"(?:fixed|introduced|added|removed|dropped|changed|deprecated|renamed)"
    r"|did (?:\w+ ){0,2}(?:fix|introduce|add|remove|drop|change|deprecate|rename|go away|disappear"
    r"|become (?:the )?default))\b",
    re.I,
)
# Words the user quotes, straight or typographic quotes, at least QUOTED_WORDS of them (as
# typed: "os.path.join" is one) and 12 characters, an apostrophe inside a word ("can't")
# kept: a message they saw. Release notes that print it do not step back (twenty-ninth
# round). At most QUOTED_MAX spans a question: each is looked for in every release note.
QUOTED = re.compile(
    r"(?:^|[\s(])['\"\u2018\u201c]((?:[^'\"\u2018\u2019\u201c\u201d]|(?<=\w)['\u2019](?=\w)){12,300}?)"
    r"['\"\u2019\u201d](?=[\s.,;:?!)]|$)"
)
QUOTED_WORDS = 3
QUOTED_MAX = 8
# Names the user types as code: dotted (`whoosh.writing.BatchWriter`), with an underscore
# (`webob.__version__`, `related_name`) or in CamelCase, with a letter and not a version
# (3.5.0, v2.0.1, 1.2.0b1 and 1234.56 name no thing: release notes print versions). Release
# notes that print one no other page prints do not step back (thirty-second round): the
# name is what the question is about, and only they say what became of it. At most
# IDENTIFIERS_MAX a question of IDENTIFIER_CHARS word characters or more, as `words_of`
# writes them.
IDENTIFIER = re.compile(r"\b(?:\w+(?:\.\w+)+|\w*_\w*|[a-z]+[A-Z]\w*|[A-Z][a-z0-9]+[A-Z]\w*)\b")
LETTER = re.compile(r"[^\W\d_]")
VERSION = re.compile(r"v?\d+(?:[a-z]+\d*)?(?:\.\d+(?:[a-z]+\d*)?)+", re.I)
IDENTIFIER_CHARS = 4
IDENTIFIERS_MAX = 8


def is_release_notes(url: str, title: str, texts: Iterable[str] | None = None) -> bool:
    """Release notes, a changelog or a "what's new" page, by its URL's path or its title; a
    page only named and titled like them ("history.html", "History") by its `texts` (its
    chunks) too, where given: one must print a version or a year (`dated`)."""
    path = (urlsplit(url).path if "://" in url else url).rstrip("/")
    if RELEASE_NOTES_PATH.search(path) or RELEASE_NOTES_TITLE.search(title):
        return True
    named = bool(RELEASE_NOTES_NAME.search(path)) and _titled_by_name(title)
    return named and (texts is None or any(map(dated, texts)))


def dated(text: str) -> bool:
    """Whether the text prints a version number ("3.1", "v2.0.1") or a year (1900-2099)."""
    return bool(VERSION.search(text) or YEAR.search(text))


def _titled_by_name(title: str) -> bool:
    """Whether the title's own part (before the site's name) is a few words ending in one of
    NAME_WORDS; "sphinx.builders.changes" is one word, a module's name."""
    own = _SITE_NAME.split(title.strip(), maxsplit=1)[0]
    words = [word for word in (part.strip(":,.;-") for part in own.split()) if word]
    return 0 < len(words) <= NAME_TITLE_WORDS and words[-1].lower() in NAME_WORDS


# A section heading that is a version ("Version 3.1.2", "lxml 4.9.2 (2022-12-13)", "v66.1.0",
# "[1.0.0] - 2017-06-20", "2015-10-16 - Release 3.9.1", "2.0.0 beta 1") or a release date
# alone. The words before the number must say version or release, or be the page title's
# (the product's name, or Cyrus's whole "Changes to the Cyrus IMAP Server since 2.4.17"):
# "Step 1.2", "Recipe 1.2", "TLS 1.3" and numbered sections ("16.2.4 History") are not
# versions. Longer headings are not read: a hostile heading of 100 KB of digits costs nothing.
HEADING_CHARS = 80
HEADING_WORDS = 8
_MARKS = re.compile(r"[\[\]\u00b6#]+")
_DATE = r"(?:19|20)\d\d-\d\d-\d\d"
_DATE_HEAD = re.compile(rf"^{_DATE}\s*[-\u2013\u2014:,/]\s*")
_TAIL = re.compile(
    r"\s*(?:\([^()]*\)|[-\u2013\u2014:,/]\s*(?:.*\b(?:19|20)\d\d\b.*|tbd|unreleased|not yet released))$",
    re.I,
)
_VERSION = re.compile(
    rf"^(?P<words>(?:[\w'.+-]+ ){{0,{HEADING_WORDS}}})v?\d+(?:\.\d+)+[a-z0-9.-]*"
    rf"(?: (?:alpha|beta|rc|pre|dev)\.? ?\d*)?$|^{_DATE}$",
    re.I,
)
# A numbered section's number, before its heading: Sphinx with numbered sections writes the
# Debian Policy's checklist as "10.2. Version 4.6.2" (read once more without it).
_SECTION_NUMBER = re.compile(r"^(?:\d+(?:\.\d+)*\.?|[A-Z](?:\.\d+)+\.?|[A-Z]\.) (?=\S)")
VERSION_WORDS = frozenset(
    {"version", "release", "released", "changes", "changed", "new", "in", "what's", "since"}
)
# At least this many version headings, and at least this share of the page's headings.
MIN_VERSION_HEADINGS = 3
VERSION_SHARE = 0.5


def is_version_heading(heading: str, title: str = "") -> bool:
    """Whether one heading (not a path) names a version or a release date; words before the
    number may be the page `title`'s."""
    text = heading.strip()
    if len(text) > HEADING_CHARS:
        return False
    text = " ".join(_MARKS.sub(" ", text).split())
    allowed = VERSION_WORDS | set(title.lower().split())
    for form in dict.fromkeys((text, _SECTION_NUMBER.sub("", text, count=1))):  # once if unnumbered
        found = _VERSION.match(_TAIL.sub("", _DATE_HEAD.sub("", form)))
        if found and all(word in allowed for word in (found.group("words") or "").lower().split()):
            return True
    return False


def by_headings(headings: Iterable[str], title: str = "") -> bool:
    """Whether a page whose chunks have these heading paths ("Changes › Version 3.1.2") is
    release notes: most of its distinct headings, at any level, are versions."""
    parts = {part.strip() for path in headings for part in path.split(" › ") if part.strip()}
    versions = sum(1 for part in parts if is_version_heading(part, title))
    return versions >= MIN_VERSION_HEADINGS and versions >= VERSION_SHARE * len(parts)


def words_of(text: str) -> str:
    """The text's words, lower case, one space apart (so punctuation never splits a quote)."""
    return " " + " ".join(re.findall(r"\w+", unicodedata.normalize("NFKC", text).lower())) + " "


def quoted_spans(question: str) -> list[str]:
    """The first QUOTED_MAX distinct spans of QUOTED_WORDS or more words the question
    quotes, as `words_of` writes them."""
    quotes = (m.group(1) for m in QUOTED.finditer(question))
    spans = dict.fromkeys(words_of(quote) for quote in quotes if len(quote.split()) >= QUOTED_WORDS)
    return list(spans)[:QUOTED_MAX]


def named_identifiers(question: str) -> list[str]:
    """The first IDENTIFIERS_MAX distinct names the question types as code, as `words_of`
    writes them."""
    typed = (
        name for name in IDENTIFIER.findall(question) if LETTER.search(name) and not VERSION.fullmatch(name)
    )
    names = (words_of(name) for name in typed)
    found = dict.fromkeys(name for name in names if len(name.replace(" ", "")) >= IDENTIFIER_CHARS)
    return list(found)[:IDENTIFIERS_MAX]


def release_notes_pages(documents: Sequence[Document], pages: dict[str, list[int]]) -> frozenset[str]:
    """The pages (keys of `pages`, each with its rows) that are release notes by their path,
    title or headings."""
    found = set()
    for page, rows in pages.items():
        title = documents[rows[0]].metadata.get("title") or ""
        headings = (documents[row].metadata.get("heading") or "" for row in rows)
        texts = (documents[row].page_content for row in rows)  # read only for a page so named
        if is_release_notes(page, title, texts) or by_headings(headings, title):
            found.add(page)
    return frozenset(found)
