"""HTML (and Markdown) to a page of titled sections, without the chrome.

A page becomes one `Section` per heading: its heading path ("Guide › Install"),
the heading's `#anchor`, and its text. Navigation, sidebars, footers, scripts and
forms are dropped. Every element id seen inside a section is kept as an anchor
point (offset → id), so a chunk cut from the middle of a long section can still
link to the nearest definition (`library/json.html#json.dumps`).
"""

from __future__ import annotations

import re
import warnings
from dataclasses import dataclass, field
from urllib.parse import urldefrag, urlsplit

from bs4 import BeautifulSoup, Comment, NavigableString, Tag, XMLParsedAsHTMLWarning

from ..errors import FetchError
from .anchors import HEADINGS, heading_anchor
from .chrome import is_chrome
from .depth import MAX_DEPTH, too_deep
from .navigation import (
    LINK_DENSITY,
    LINKED,
    LINKED_WORDS,
    LINKS,
    RAW,
    SENTENCE_WORDS,
    WORD,
    WORDS,
    link_lists,
    pagers,
    refresh_targets,
    spaced,
    tags,
    text_stats,
)
from .urlpolicy import join_url

MAX_KEYWORDS = 1000  # characters of a page's declared keywords kept: stuffed ones cannot outweigh its text
MIN_TEXT = 200  # below this much text besides link lists, a page is an index...
# ...unless its lists link mostly to other sites and its own text holds a sentence: a short
# page of prose with a list of articles after it (Requests' "Integrations": "Requests is
# built into the wonderful Python for iOS runtime!") is content, and keeps its list. An
# index or a table of contents links to the site's own pages; a stub with only navigation
# to other sites has no sentence (measured on every installed page: docs/decisions.md).
# With no sentence in it, a page whose link lists hold INDEX_SHARE times its other text, or
# whose other text is links too, is an index as well (thirty-first round: Sphinx's genindex
# keeps a letter of under MIN_LINKS entries as text).
INDEX_SHARE = 10
SENTENCE_BREAK = re.compile(r"(?<=[.!?])\s+|\n")
BLOCK_TAGS = {
    "p",
    "div",
    "section",
    "article",
    "main",
    "li",
    "ul",
    "ol",
    "dl",
    "dt",
    "dd",
    "table",
    "tr",
    "blockquote",
    "figure",
    "figcaption",
    "header",
    "hr",
    "details",
    "summary",
    "caption",
    "address",
}
CELL_TAGS = {"td", "th"}
# RDoc's Darkfish (Ruby's API documentation) writes each method's name and arguments as a
# `div.method-heading`, not a heading (its "click to toggle source" hint goes as chrome):
# read as a heading at the lowest level (h6's), each method is a section of its own, its name
# in its chunks' heading path, instead of one "Public Instance Methods" section (measured:
# docs/decisions.md).
PSEUDO_HEADING = "method-heading"
PSEUDO_PARENT = "method-detail"
PSEUDO_LEVEL = 6
SECTIONING = ("article", "section")  # a heading deeper inside ranks below the one opening it
MAIN_SELECTORS = ("main", "[role=main]", "article", "#main-content", "#content", ".content")
ARTICLE = MAIN_SELECTORS.index("article")
# Elements that name a place on a page rather than hold it, when their id or class says
# "content": Texinfo's empty anchors, a documented name's heading, term or code.
PLACE_NAMES = {"a", "span", "code", "em", "strong", "b", "i", "var", "kbd", "samp", "tt", "dt", "label"}
_WS = re.compile(r"[ \t\r\f\v\u00a0]+")
_BLANKS = re.compile(r"\n[ \t]*(?:\n[ \t]*)+")


@dataclass
class Section:
    heading: str  # "Page title › Sub heading"; "" before the first heading
    anchor: str | None
    text: str
    anchors: list[tuple[int, str]] = field(default_factory=list)  # (offset in text, id)


@dataclass
class Page:
    url: str
    title: str
    sections: list[Section]
    links: list[str]
    links_only: bool = False  # the page was nothing but link lists (an index, a table of contents)
    redirect: str | None = None  # where an immediate <meta http-equiv="refresh"> sends the reader
    keywords: str = ""  # the page's declared keywords, where they say more than its title

    @property
    def text_length(self) -> int:
        return sum(len(s.text) for s in self.sections)


class _Builder:
    """Collects text and section breaks during one walk of the content tree."""

    def __init__(self) -> None:
        self.sections: list[Section] = []
        self.path: list[tuple[float, str, str | None]] = []  # (level, heading text, anchor)
        self.taken: set[str] = set()  # anchors of the headings so far
        self.anchor: str | None = None
        self.parts: list[str] = []
        self.length = 0
        self.anchors: list[tuple[int, str]] = []
        self.depth = 0  # of the elements being walked, in the content block
        # (level, depth) of the first heading in each open article or section, outermost first
        self.floors: list[tuple[float, int] | None] = []

    def ranked(self, level: float) -> float:
        """A heading's level, below the first heading of each article or section it is in
        when it sits deeper in the page than that heading: Erlang's module pages head each
        function's `<article>` with an h4 and hold its "Types" in an h3 inside a block, which
        would close the function and leave every "Types" section nameless. A kicker (an h5
        over the h1 beside it) demotes nothing; demoted headings keep their order."""
        for floor in self.floors:
            if floor is not None and level < floor[0] and self.depth > floor[1]:
                level = floor[0] + level / 10
        if self.floors and self.floors[-1] is None:
            self.floors[-1] = (level, self.depth)
        return level

    def text(self, value: str) -> None:
        if value:
            self.parts.append(value)
            self.length += len(value)

    def newline(self) -> None:
        # A bullet stays on the line of the block that follows it.
        if self.parts and not self.parts[-1].endswith(("\n", "- ")):
            self.text("\n")

    def mark(self, anchor: str) -> None:
        self.anchors.append((self.length, anchor))

    def heading(self, level: float, title: str, anchor: str | None) -> None:
        opening = self._after_last_words()
        self.flush()
        while self.path and self.path[-1][0] >= level:
            self.path.pop()
        if anchor in self.taken:  # a link lands on the first: Erlang's "Types" of each function
            anchor = next((a for _, _, a in reversed(self.path) if a), None)
        if anchor:
            self.taken.add(anchor)
        self.path.append((level, title, anchor))
        self.anchor = anchor
        # The heading's own anchor, where it has one, names the spot they mark too.
        self.anchors = [] if anchor else [(0, name) for _, name in opening]

    def _after_last_words(self) -> list[tuple[int, str]]:
        """Ids marked after the section's last words, taken out of it: they open the section
        that follows (`<div id="method-i-x"><div class="method-heading">`, `<section
        id><h2>`), and the section's last chunk must not link to the next one."""
        end = self.length
        for part in reversed(self.parts):  # back over the trailing blanks only
            kept = part.rstrip()
            end -= len(part) - len(kept)
            if kept:
                break
        opening = [mark for mark in self.anchors if mark[0] >= end]
        self.anchors = [mark for mark in self.anchors if mark[0] < end]
        return opening

    def close(self) -> None:
        """End the page: ids after its last words mark nothing (LibreOffice's empty
        `<div id="DonationFrame">` last on each page), so its last chunk must not link there."""
        self._after_last_words()
        self.flush()

    def flush(self) -> None:
        raw = "".join(self.parts)
        text, anchors = _tidy(raw, self.anchors)
        if text:
            heading = " › ".join(t for _, t, _ in self.path)
            self.sections.append(Section(heading, self.anchor, text, anchors))
        self.parts, self.length, self.anchors = [], 0, []


def _tidy(raw: str, anchors: list[tuple[int, str]]) -> tuple[str, list[tuple[int, str]]]:
    """Strip blank runs and leading space, keeping anchor offsets pointing at the same text."""
    out: list[str] = []
    mapping: list[tuple[int, int]] = []  # (raw offset, tidy offset) at each line start
    pos = 0
    tidy_len = 0
    for line in raw.split("\n"):
        stripped = line.strip()
        if stripped:
            if out:
                out.append("\n")
                tidy_len += 1
            mapping.append((pos, tidy_len))
            out.append(stripped)
            tidy_len += len(stripped)
        pos += len(line) + 1
    text = "".join(out)
    if not text:
        return "", []
    fixed: list[tuple[int, str]] = []
    i = 0
    for offset, anchor in anchors:
        while i + 1 < len(mapping) and mapping[i + 1][0] <= offset:
            i += 1
        tidy_offset = min(mapping[i][1] if mapping else 0, len(text))
        if not fixed or fixed[-1][1] != anchor:
            fixed.append((tidy_offset, anchor))
    return text, fixed


def _inline(value: str) -> str:
    return _WS.sub(" ", value.replace("\n", " "))


def _walk(node: Tag, out: _Builder) -> None:
    for child in node.children:
        if isinstance(child, Comment):
            continue
        if isinstance(child, NavigableString):
            if type(child) is NavigableString:  # skip CData, Doctype, declarations
                out.text(_inline(str(child)))
            continue
        if not isinstance(child, Tag):
            continue
        name = child.name
        if name in HEADINGS:
            title = _inline(child.get_text(" ")).strip()
            if title:
                out.heading(out.ranked(HEADINGS[name]), title, heading_anchor(child))
            continue
        if child.get("id"):
            out.mark(str(child["id"]))
        if _is_pseudo_heading(child):
            title = _inline(child.get_text()).strip()  # "process(document)": no space added
            if title:
                out.heading(PSEUDO_LEVEL, title, heading_anchor(child))
            continue
        if name == "pre":
            out.newline()
            out.text(child.get_text())
            out.newline()
            continue
        if name == "tr":
            cells = child.find_all(CELL_TAGS, recursive=False)
            out.newline()
            out.text(" | ".join(_inline(c.get_text(" ")).strip() for c in cells))
            out.newline()
            continue
        if name == "br":
            out.text("\n")
            continue
        if name == "img":
            alt = child.get("alt")
            if alt:
                out.text(f" {alt} ")
            continue
        block = name in BLOCK_TAGS
        if block:
            out.newline()
        if name == "li":
            out.text("- ")
        if name in SECTIONING:
            out.floors.append(None)
        out.depth += 1
        _walk(child, out)
        out.depth -= 1
        if name in SECTIONING:
            out.floors.pop()
        if block:
            out.newline()


def _is_pseudo_heading(tag: Tag) -> bool:
    """A method's first `div.method-heading` in its `div.method-detail`; the next ones are
    its other call forms (`sub(pattern, replacement)`, `sub(pattern) { ... }`), read as text."""
    if tag.name != "div" or PSEUDO_HEADING not in (tag.get("class") or ()):
        return False
    parent = tag.parent
    if not isinstance(parent, Tag) or PSEUDO_PARENT not in (parent.get("class") or ()):
        return False
    return tag.find_previous_sibling("div", class_=PSEUDO_HEADING) is None


def _main_content(soup: BeautifulSoup) -> Tag:
    """The first of MAIN_SELECTORS that matches; of several matches, the one with the most text.
    A heading, a term or an inline element, empty or not, is no content block
    (`_names_a_place`): Texinfo gives each documented name an empty anchor with the name as
    its id, and Maxima's `content` function made its page's `<span id="content"></span>` the
    page's whole text. An empty block (`<main>`, a search page's results filled in by
    script) still stands: the page has no text. Of several articles, one is the page only
    as `_dominant` finds it: Erlang's module pages put each function (and the data types)
    in an `<article>` of its own, and the longest one was taken for the whole page."""
    matches: list[list[Tag]] = [[] for _ in MAIN_SELECTORS]
    for tag in tags(soup):  # one pass (soupsieve would take one per selector, and is slow)
        for i in _main_kinds(tag):
            matches[i].append(tag)
    if not any(matches[:ARTICLE]):  # a <main> or [role=main] comes first anyway
        matches[ARTICLE] = _dominant(matches[ARTICLE], soup)
    for found in ([tag for tag in kind if not _names_a_place(tag)] for kind in matches):
        if len(found) > 1:  # text lengths from one pass, not one get_text per match
            stats = text_stats(soup)
            return _with_page_heading(max(found, key=lambda t: stats[id(t)][RAW]))
        if found:
            return _with_page_heading(found[0])
    return soup.body or soup


def _dominant(articles: list[Tag], soup: BeautifulSoup) -> list[Tag]:
    """The article that is the page, if one is: of the outermost ones outside chrome, the
    only one holding an h1 (a post, not its comments), or the one holding more than half
    their text."""
    if len(articles) < 2:
        return articles
    outer, titled = _outermost(articles, soup)
    if len(titled) == 1:
        return titled
    if not outer:
        return []
    stats = text_stats(soup)
    longest = max(outer, key=lambda t: stats[id(t)][RAW])
    total = sum(stats[id(t)][RAW] for t in outer)
    return [longest] if 2 * stats[id(longest)][RAW] > total else []


def _outermost(found: list[Tag], soup: BeautifulSoup) -> tuple[list[Tag], list[Tag]]:
    """Those of these tags that neither another of them nor chrome holds, and those of them
    holding an h1, in one pass down the page (a hostile page nests hundreds of articles,
    each beside thousands)."""
    marked = set(map(id, found))
    hidden: set[int] = set()  # elements in chrome
    owner: dict[int, Tag] = {}  # element -> the outermost of these holding it
    outer: list[Tag] = []
    titled: dict[int, Tag] = {}
    for tag in tags(soup):  # document order: a parent before its children
        parent = id(tag.parent)
        if parent in hidden or is_chrome(tag):
            hidden.add(id(tag))
            continue
        held = owner.get(parent)
        if held is None and id(tag) in marked:
            outer.append(tag)
            held = tag
        if held is not None:
            owner[id(tag)] = held
            if tag.name == "h1":
                titled[id(held)] = held
    return outer, list(titled.values())


def _names_a_place(tag: Tag) -> bool:
    """A heading, a term or an inline element: it names one place on the page (an anchor, a
    documented name), it does not hold the page. libadwaita's style-class guide documents
    `.content` under `<h3 id="content">`, which was taken for the page's whole text."""
    return tag.name in HEADINGS or tag.name in PLACE_NAMES


def _main_kinds(tag: Tag) -> list[int]:
    """Which MAIN_SELECTORS (by position) the tag matches."""
    attrs = tag.attrs or {}
    kinds = []
    if tag.name == "main":
        kinds.append(0)
    if attrs.get("role") == "main":
        kinds.append(1)
    if tag.name == "article":
        kinds.append(2)
    if attrs.get("id") == "main-content":
        kinds.append(3)
    if attrs.get("id") == "content":
        kinds.append(4)
    if "content" in (attrs.get("class") or ()):
        kinds.append(5)
    return kinds


def _with_page_heading(main: Tag) -> Tag:
    """Widen the content to take in the page's own h1 when a sibling block holds it.

    Generators such as AsciiDoc (man pages) put the page heading and its summary (a
    man page's NAME line) in a header block beside `#content`; without it the page's
    chunks never say what the page is about. Site chrome around it is still dropped.
    """
    if main.find("h1") is not None or not isinstance(main.parent, Tag):
        return main
    for sibling in main.find_previous_siblings():
        if isinstance(sibling, Tag) and sibling.find("h1") is not None and not is_chrome(sibling):
            return main.parent
    return main


def _leads_on(href: str) -> bool:
    """Whether a link's (stripped) target is another page: not `#top`, mail, script or phone."""
    return bool(href) and not href.startswith(("#", "mailto:", "javascript:", "tel:"))


def _links(soup: BeautifulSoup, base: str) -> list[str]:
    seen: dict[str, None] = {}
    for a in tags(soup):
        if a.name != "a" or a.get("href") is None:
            continue
        href = str(a["href"]).strip()
        if not _leads_on(href):
            continue
        joined = join_url(base, href)
        if joined is None:
            continue
        url = urldefrag(joined)[0]
        if url.startswith(("http://", "https://", "file://")):
            seen.setdefault(url, None)
    return list(seen)


def _title(soup: BeautifulSoup, sections: list[Section]) -> str:
    if soup.title and soup.title.string and soup.title.string.strip():
        return _inline(soup.title.string).strip()
    for s in sections:
        if s.heading:
            return s.heading.split(" › ")[0]
    return ""


def extract_html(html: bytes | str, url: str, encoding: str | None = None) -> Page:
    """Parse one HTML page into titled sections and the links it holds (FetchError if too deep)."""
    if too_deep(html):
        raise FetchError(
            url,
            "too-deep",
            f"The page nests its elements more than {MAX_DEPTH} levels deep.",
            "This is not a page written for people; index another one.",
        )
    with warnings.catch_warnings():
        # XHTML pages (AsciiDoc, DocBook) start with an XML declaration; the HTML parser
        # reads them correctly, and a warning per page would drown the progress output.
        warnings.simplefilter("ignore", XMLParsedAsHTMLWarning)
        soup = BeautifulSoup(html, "lxml", from_encoding=encoding if isinstance(html, bytes) else None)
    base_tag = soup.find("base", href=True)
    base = (join_url(url, str(base_tag["href"])) if isinstance(base_tag, Tag) else None) or url
    links = _links(soup, base)
    redirect, stub = refresh_targets(soup, base)  # read before <noscript> goes as chrome
    keywords = _keywords(soup)
    main = _main_content(soup)
    chrome = [t for t in tags(main) if is_chrome(t)]
    menu = any(_lists_pages(t) for t in chrome)
    searched = any(_is_search_form(t, base) for t in chrome)
    _drop(chrome)
    _drop(pagers(main))
    lists = link_lists(main)
    full = _sections(main) if lists else []
    for block in lists:  # taken out in document order, kept: where they lead is asked below
        block.extract()
    sections = _sections(main)
    kept = _length(sections)
    links_only = _only_links(main, lists, sections, _length(full), base)
    if links_only or (searched and kept < MIN_TEXT):  # a search page's form is all it offers
        sections = []
    elif kept < MIN_TEXT and lists:  # short pages keep their lists rather than become empty
        sections = full
    redirect = redirect or (None if sections else stub)  # a script's redirect, with no words of its own
    if redirect and _length(sections) < MIN_TEXT:  # "The node you are looking for is at ..."
        sections, links = [], [redirect, *(link for link in links if link != redirect)]
    links_only = links_only or (not sections and not redirect and menu and _headed(main))
    title = _title(soup, sections or full)
    return Page(url, title, sections, links, links_only=links_only, redirect=redirect, keywords=keywords)


def _only_links(main: Tag, lists: list[Tag], sections: list[Section], everything: int, base: str) -> bool:
    """Whether the page is nothing but link lists: under MIN_TEXT of its own text beside
    them, or, with no sentence, text that is links too or a tenth of the page at most (an
    index whose letters of a few entries each stay as text, each too small a list to be
    taken out: Sphinx's genindex, a table per letter); unless the lists lead mostly to other
    sites beside a sentence, or hold prose."""
    if not lists:
        return False
    kept, sentence = _length(sections), _has_sentence(sections)
    index = kept < MIN_TEXT and everything > 2 * max(kept, 1)
    if not index and not sentence:  # the rest's link text is counted only where it can decide
        stats = text_stats(main)[id(main)]
        index = stats[LINKED] > LINK_DENSITY * spaced(stats) or everything >= INDEX_SHARE * kept
    if not index:
        return False
    return not (sentence and _link_elsewhere(lists, base)) and not _lists_hold_prose(lists)


def _is_search_form(tag: Tag, url: str) -> bool:
    """The page's own search form: a text or search field, sent to the page itself (Sphinx's
    search.html: `action=""`). A page whose text beside it is under MIN_TEXT is that form and
    its help line ("Searching for multiple words only shows matches that contain all
    words."). A site's search box sends the words to its search page, or runs a script with
    no action at all, and a short page that holds one (SQLite's syntax diagrams, LilyPond's
    chapters, the Racket Guide's) keeps its text."""
    if tag.name != "form" or tag.get("action") is None:  # a scripted box (Racket's) is on every page
        return False
    action = str(tag["action"]).strip()
    target = join_url(url, action) if action else url
    if target is None or urldefrag(target)[0] != urldefrag(url)[0]:
        return False
    fields = tag.find_all("input")
    return any(str(field.get("type") or "text").lower() in ("text", "search") for field in fields)


def _keywords(soup: BeautifulSoup) -> str:
    """The page's declared keywords: `<meta name="keywords">`, or LibreOffice's help-index
    entries (`<meta itemprop="keywords">` in the body), the words a reader looks a page up by.
    Texinfo repeats the `<title>` there, which says nothing more."""
    title = soup.find("title")
    title_text = _inline(title.get_text()).strip().casefold() if title else ""
    found: dict[str, None] = {}  # in order, once each
    for meta in soup.find_all("meta", content=True):
        kind = f"{meta.get('name') or ''} {meta.get('itemprop') or ''}"
        words = _inline(str(meta["content"])).strip()
        if "keywords" in kind.casefold().split() and words and words.casefold() != title_text:
            found[words] = None
    joined = " ; ".join(found)
    return joined if len(joined) <= MAX_KEYWORDS else joined[:MAX_KEYWORDS].rsplit(" ", 1)[0]


_TOC_ENTRY = re.compile(r"(?:^|\s)toc-", re.I)  # a contents line's class: toc-h2, toc-entry


def _lists_pages(tag: Tag) -> bool:
    """Whether a table of contents' own entries link to another page (not `#top`, mail or
    script): a list's items (Texinfo's `ul.section-toc`), a definition list's terms (DocBook's
    `dl.toc`: `<dt><span><a>`), or an entry of its own (SWI-Prolog's `div.toc-h2 > a`). Only
    an entry's own links, and those in its inline spans, are read: nested lists cost linear
    time, not one scan per level."""
    if tag.name in ("ul", "ol"):
        entries = tag.find_all("li", recursive=False)
    elif tag.name == "dl":
        entries = tag.find_all("dt", recursive=False)
    elif _TOC_ENTRY.search(" ".join(tag.get("class") or ())):
        entries = [tag]
    else:
        return False
    return any(_leads_on(href) for entry in entries for href in _entry_links(entry))


def _entry_links(entry: Tag) -> list[str]:
    """The targets of an entry's own links, and of links in its own spans."""
    found = []
    for child in entry.find_all(["a", "span"], recursive=False):
        inner = [child] if child.name == "a" else child.find_all("a", recursive=False)
        found.extend(str(a["href"]).strip() for a in inner if a.get("href") is not None)
    return found


def _headed(main: Tag) -> bool:
    """Whether the content block keeps a heading. With a list of links that went as chrome
    and no text, a page is a menu: a Texinfo chapter page is its heading over a list of its
    sections (`ul.section-toc`), and its reader should be told to index those, not that the
    page is unreadable (Maxima: 100 such pages, some of one section). A script's shell (a
    navigation bar, an empty `<main>`) has no heading and stays empty."""
    return main.find(list(HEADINGS)) is not None


def _link_elsewhere(lists: list[Tag], base: str) -> bool:
    """Whether most links in these lists, taken out of the page, lead to other sites (articles,
    not this site's pages). A list nested in another was taken out of it after it, so each
    link is counted once (a hostile page nests them 200 levels deep)."""
    home = _host(base)
    targets = [join_url(base, str(a["href"])) for block in lists for a in block.find_all("a", href=True)]
    # a link that is no address (None) or has no host (file://, relative) stays on this site
    away = sum(1 for t in targets if t is not None and _host(t) not in ("", home))
    return 2 * away > len(targets)


def _host(url: str) -> str:
    """The URL's host, lower-cased, without its port or a leading "www." ("" when none)."""
    try:
        host = urlsplit(url).hostname or ""
    except ValueError:
        return ""
    return host.removeprefix("www.")


def _has_sentence(sections: list[Section]) -> bool:
    """Whether the text holds a sentence: SENTENCE_WORDS words or more, ending in . ! or ?"""
    for section in sections:
        for part in SENTENCE_BREAK.split(section.text):
            part = part.strip()
            if part[-1:] in (".", "!", "?") and len(WORD.findall(part)) >= SENTENCE_WORDS:
                return True
    return False


def _lists_hold_prose(lists: list[Tag]) -> bool:
    """Whether the link lists, taken out of the page, hold at least a word of prose per link:
    a tiny API page's description, with its type, getter and "See also" links, is one such
    block (libadwaita's property pages), while a table of contents' introduction is a few
    words over many links. Prose is paragraphs that end as sentences with SENTENCE_WORDS
    words or more outside their links, counted by `text_stats`. Nested lists were taken out
    of each other, so each link is counted once; of paragraphs nested in paragraphs
    (`<p><span><p>`, which lxml keeps) only the outermost is read, so each word is counted
    once and a hostile page costs linear time."""
    words = links = 0
    for block in lists:
        stats = text_stats(block)
        links += stats[id(block)][LINKS]
        inside: set[int] = set()
        for tag in [block, *tags(block)]:  # document order: a paragraph before what it holds
            if id(tag.parent) in inside:
                inside.add(id(tag))
            elif tag.name == "p":
                inside.add(id(tag))
                unlinked = stats[id(tag)][WORDS] - stats[id(tag)][LINKED_WORDS]
                ends = tag.get_text(" ").rstrip()[-1:] in (".", "!", "?")
                words += unlinked if ends and unlinked >= SENTENCE_WORDS else 0
    return words > 0 and words >= links


def _drop(found: list[Tag]) -> None:
    for tag in found:
        if not tag.decomposed:  # inside one dropped before it
            tag.decompose()


def _sections(main: Tag) -> list[Section]:
    out = _Builder()
    _walk(main, out)
    out.close()
    return out.sections


def _length(sections: list[Section]) -> int:
    return sum(len(s.text) for s in sections)


# The closing #s and spaces are stripped after the match: a lazy text before optional
# spaces and #s backtracks quadratically on a line of thousands of spaces (45 s for 3,000).
_MD_HEADING = re.compile(r"^(#{1,6})[ \t]+(\S.*)$")


def _slug(text: str) -> str:
    return re.sub(r"[^\w\- ]", "", text.lower()).strip().replace(" ", "-")


def extract_markdown(text: str, url: str) -> Page:
    """Markdown (and plain text) by `#` headings; anchors are GitHub-style slugs."""
    out = _Builder()
    in_code = False
    for line in text.splitlines():
        if line.lstrip().startswith("```"):
            in_code = not in_code
        match = None if in_code else _MD_HEADING.match(line)
        if match:
            title = match.group(2).rstrip().rstrip("#").rstrip() or match.group(2).strip()
            out.heading(len(match.group(1)), title, _slug(title))
        else:
            out.text(line + "\n")
    out.flush()
    title = next((s.heading.split(" › ")[0] for s in out.sections if s.heading), "")
    links = re.findall(r"\]\((https?://[^)\s]+)\)", text)
    return Page(url=url, title=title or url.rsplit("/", 1)[-1], sections=out.sections, links=links)
