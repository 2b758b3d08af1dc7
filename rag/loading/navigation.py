"""What only helps a reader move around a site, found so the extractor can drop it: link
lists (a table of contents, an index), pagers ("Next: … Up: …"), and redirect stubs (a
page whose meta refresh sends the reader on at once). Every measure is one pass over the
page, so a hostile page costs linear time.
"""

from __future__ import annotations

import re
from urllib.parse import urldefrag

from bs4 import BeautifulSoup, CData, NavigableString, Tag

from .anchors import HEADINGS
from .urlpolicy import join_url

# A block whose text is mostly link text (a table of contents, an index, a link
# farm) is navigation, whatever its markup says.
LINK_BLOCKS = {"ul", "ol", "dl", "table", "div", "nav", "p"}
LINK_DENSITY = 0.45
MIN_LINKS = 5
# ...unless it also holds this much prose (paragraphs and code that are not themselves mostly
# links, outside the link lists inside it): a landing page whose introduction and
# installation notes share a wrapper with a long table of contents keeps them.
PROSE_TAGS = {"p", "pre"}
PROSE_MIN = 500
# Sphinx lays its general and module indexes out in tables of this class: an index however
# little of it is link text (FRRouting's entries are a command's whole syntax beside a link
# "configuration command"; Django's module index gives each module's synopsis).
INDEX_TABLE = "indextable"
# A paragraph with this many words outside its links, and at least as many as links, is a
# sentence that names linked things ("When run in script mode, CMake sets the variables
# A, B, C and D to ..."), not a list of links ("See also: A, B, C, D and E."): it stays.
SENTENCE_WORDS = 6
WORD = re.compile(r"[^\W\d_]{2,}")
# A pager ("Next: Broadcasting, Up: Vectorization [Contents][Index]", Texinfo's header;
# DocBook's Prev | Up | Home | Next) is a block whose every link is a keyboard shortcut or
# a rel=next/prev/up link, with little text besides: navigation however few its links.
PAGER_RELS = {"next", "prev", "previous", "up", "contents", "index", "start", "home", "first", "last"}
PAGER_TEXT = 80
# Besides its links a pager says only "Next:", "Up:", "|", "[", "]" and the like.
PAGER_WORDS = re.compile(r"\b(?:next|previous|prev|up|home|top|contents|index|back|forward)\b|[\W\d_]+", re.I)
PAGER_BLOCKS = {"div", "p", "table", "tr", "td", "li", "ul", "nav"}


def tags(root: Tag) -> list[Tag]:
    return [node for node in root.descendants if isinstance(node, Tag)]


# text_stats fields, per element: text as get_text(" ", strip=True) sees it (characters of
# the stripped strings, and how many), links (a[href]) inside, their text, raw text length,
# words (WORD), and words inside links.
CHARS, STRINGS, LINKS, LINKED, RAW, WORDS, LINKED_WORDS = range(7)
FIELDS = LINKED_WORDS + 1


def text_stats(root: Tag) -> dict[int, list[int]]:
    """Text and link measures of every element under `root`, in one pass (children first)."""
    stats: dict[int, list[int]] = {}
    for node in reversed([root, *root.descendants]):  # document order reversed: children first
        parent = node.parent
        if isinstance(node, Tag):
            own = stats.setdefault(id(node), [0] * FIELDS)
            if node.name == "a" and node.get("href") is not None and not _names_itself(node):
                own[LINKS] += 1
                own[LINKED] += spaced(own)
                own[LINKED_WORDS] = own[WORDS]
            if node is not root and parent is not None:
                up = stats.setdefault(id(parent), [0] * FIELDS)
                for i in range(FIELDS):
                    up[i] += own[i]
        elif type(node) in (NavigableString, CData) and parent is not None:
            up = stats.setdefault(id(parent), [0] * FIELDS)
            stripped = node.strip()
            up[RAW] += len(node)
            if stripped:
                up[CHARS] += len(stripped)
                up[STRINGS] += 1
                up[WORDS] += len(WORD.findall(stripped))
    return stats


def _names_itself(link: Tag) -> bool:
    """A link to its own id (gi-docgen's `<a id="none" href="#none">` on each enum member) is
    the name's permalink, not a way to another place: a table of such names is no index."""
    ident = link.get("id") or link.get("name")
    return bool(ident) and link.get("href") == f"#{ident}"


def spaced(stat: list[int]) -> int:
    """len(get_text(" ", strip=True)): the stripped strings and one space between each two."""
    return stat[CHARS] + max(stat[STRINGS] - 1, 0)


def link_lists(main: Tag) -> list[Tag]:
    """Blocks whose text is mostly link text (a table of contents, an index, a link farm)
    and that hold under PROSE_MIN characters of prose besides the link lists inside them.
    One pass, children before their parents."""
    stats = text_stats(main)
    prose: dict[int, int] = {}  # per element: prose characters outside the link lists in it
    lists = []
    for tag in reversed(tags(main)):
        stat = stats[id(tag)]
        linked = stat[LINKED] / (spaced(stat) or 1) > LINK_DENSITY and not _is_sentence(tag, stat)
        dense = linked and stat[LINKS] >= MIN_LINKS
        # a paragraph that is mostly its link (a list item naming a page) is not prose
        own = spaced(stat) if tag.name in PROSE_TAGS and not linked else prose.get(id(tag), 0)
        listed = (dense and tag.name in LINK_BLOCKS and own < PROSE_MIN) or _is_index_table(tag)
        if listed:
            lists.append(tag)
        elif tag.parent is not None:
            prose[id(tag.parent)] = prose.get(id(tag.parent), 0) + own
    lists.reverse()  # document order, as the callers expect
    return lists


def _is_index_table(tag: Tag) -> bool:
    return tag.name == "table" and INDEX_TABLE in (tag.get("class") or ())


def _is_sentence(tag: Tag, stat: list[int]) -> bool:
    """A paragraph with at least as many words outside its links as links, and at least
    SENTENCE_WORDS: a sentence naming linked things. One opening line before 200 links is not."""
    unlinked = stat[WORDS] - stat[LINKED_WORDS]
    return tag.name == "p" and unlinked >= max(SENTENCE_WORDS, stat[LINKS])


def _is_pager_link(tag: Tag) -> bool:
    rel = tag.get("rel") or ()
    rels = rel.split() if isinstance(rel, str) else rel
    return tag.get("accesskey") is not None or any(r.lower() in PAGER_RELS for r in rels)


def _unlinked_text(node: Tag) -> str:
    return " ".join(t for t in node.find_all(string=True) if t.find_parent("a") is None)


def pagers(main: Tag) -> list[Tag]:
    """The outermost block (within three levels of a pager link) that holds two or more
    pager links, no other link, no heading or code, and little other text. One pass for the
    text and link counts, three ancestors a pager link: linear time however many links."""
    pager_links: dict[int, int] = {}
    chains: list[list[Tag]] = []
    for link in tags(main):
        if link.name != "a" or link.get("href") is None or not _is_pager_link(link):
            continue
        chain, node = [], link.parent
        while len(chain) < 3 and isinstance(node, Tag) and node is not main and node.name in PAGER_BLOCKS:
            pager_links[id(node)] = pager_links.get(id(node), 0) + 1
            chain.append(node)
            node = node.parent
        chains.append(chain)
    if not chains:
        return []
    stats = text_stats(main)
    verdicts: dict[int, bool] = {}  # each block judged once, however many links share it

    def pager(node: Tag) -> bool:
        if id(node) not in verdicts:
            stat, links = stats[id(node)], pager_links[id(node)]
            verdicts[id(node)] = (
                stat[LINKS] == links >= 2
                and spaced(stat) - stat[LINKED] <= PAGER_TEXT
                and node.find([*HEADINGS, "pre"]) is None
                and len(PAGER_WORDS.sub("", _unlinked_text(node))) <= 3
            )
        return verdicts[id(node)]

    found: dict[int, Tag] = {}
    for chain in chains:
        best = None
        for node in chain:
            if not pager(node):
                break
            best = node
        if best is not None:
            found[id(best)] = best
    return list(found.values())


# "0; url=x", "0;URL='x'", "0 url=x": the delay, then the target (HTML's refresh syntax).
_REFRESH = re.compile(r"^\s*(\d+)(?:\.[\d.]*)?\s*(?:[;,]\s*|\s+)(?:url\s*=\s*)?(['\"]?)([^'\"]*)\2", re.I)


def refresh_targets(soup: BeautifulSoup, base: str) -> tuple[str | None, str | None]:
    """Where an immediate meta refresh sends the reader (Texinfo's node redirects), for a
    reader with scripts and for one without: a refresh inside <noscript> runs only with
    scripts off (LibreOffice's help sends such readers to a "turn on JavaScript" page from
    every page, while a script's redirect stub keeps one for them). One pass over the metas."""
    found: dict[bool, str | None] = {}  # the first of each way (without scripts: True)
    for meta in soup.find_all("meta", content=True):
        if str(meta.get("http-equiv", "")).lower() != "refresh":
            continue
        match = _REFRESH.match(str(meta["content"]))
        target = match.group(3).strip() if match and int(match.group(1)) == 0 else ""
        if not target or target.lower().startswith("url="):
            continue
        way = any(p.name == "noscript" for p in meta.parents)
        if way not in found:
            joined = join_url(base, target)
            found[way] = urldefrag(joined)[0] if joined else None
    return found.get(False), found.get(True)
