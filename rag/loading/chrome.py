"""Page chrome: the menus, sidebars, footers and permalinks around a page's content,
recognised by tag, ARIA role, or a word in the element's class or id."""

from __future__ import annotations

import re

from bs4 import Tag

from .anchors import HEADINGS

# Never content, wherever they appear.
DROP_TAGS = {
    "script",
    "style",
    "noscript",
    "template",
    "svg",
    "canvas",
    "iframe",
    "form",
    "button",
    "input",
    "select",
    "textarea",
    "nav",
    "aside",
    "footer",
    "object",
    "embed",
}
# A <header> inside one of these heads that part, not the page (HTML-AAM: its banner role
# is scoped by these elements and roles).
BANNER_SCOPES = frozenset({"article", "aside", "main", "nav", "section"})
BANNER_SCOPE_ROLES = frozenset({"article", "complementary", "main", "navigation", "region"})
BANNER_DEPTH = 32  # a banner sits near the top; a deeper <header> is kept (a short climb on hostile pages)
DROP_ROLES = {"navigation", "banner", "contentinfo", "complementary", "search", "menu"}
# Class/id words that mark chrome around the content: long ones anywhere in a
# class or id ("searchmenu", "sphinxsidebar"), short ones only as whole words. DocBook's
# XSL wraps every page in a "navheader" and a "navfooter" (Prev | Up | Home | Next); RDoc's
# Darkfish puts a "click to toggle source" hint (`method-click-advice`) in each method's name;
# Racket's Scribble puts the manual's contents beside each page (`tocset`) and its
# top/contents/prev/up/next links above and below it (`navsettop`, `navsetbottom`).
CHROME_WORDS = re.compile(
    r"menu|sidebar|breadcrumb|navbar|sidenav|navheader|navfooter|footer|headerlink|pagination|"
    r"cookie|skip-link|click-advice|tocset|navset|"
    r"(?:^|[\s_-])(nav|toc|related|banner)(?:$|[\s_-])",
    re.I,
)


def is_chrome(tag: Tag) -> bool:
    if tag.name in DROP_TAGS or (tag.name == "header" and _is_banner(tag)):
        return True
    attrs = tag.attrs or {}
    if attrs.get("role") in DROP_ROLES or attrs.get("aria-hidden") == "true":
        return True
    if "hidden" in attrs and tag.name not in {"details"}:
        return True
    classes = " ".join(attrs.get("class") or [])
    ident = str(attrs.get("id") or "")
    marked = (classes.strip() and CHROME_WORDS.search(classes) is not None) or (
        bool(ident) and CHROME_WORDS.search(ident) is not None and not _own_slug(tag, ident)
    )
    return bool(marked) and not _names_heading(tag)


def _is_banner(tag: Tag) -> bool:
    """A <header> in no article, aside, main, nav or section (nor an element of such a role) is
    the page's banner (HTML gives it role=banner): the site's logo and name, as on every page of
    LibreOffice's help. One holding a heading is kept, since some themes put the page's h1 there."""
    for depth, parent in enumerate(tag.parents):
        if depth == BANNER_DEPTH or parent.name in BANNER_SCOPES or parent.get("role") in BANNER_SCOPE_ROLES:
            return False
    return tag.find(list(HEADINGS)) is None


def _names_heading(tag: Tag) -> bool:
    """Whether a chrome-marked element holds a heading's words: Sphinx links a heading back
    to the page's local contents (`<h2><a class="toc-backref">Basics</a>`), and that link
    is the heading's whole text. A permalink ("¶", or named `headerlink`) still goes. The
    backlink sits right under its heading, so a short climb finds it (linear on deep pages)."""
    if "headerlink" in (tag.get("class") or ()):
        return False
    node = tag.parent
    for _ in range(3):
        if not isinstance(node, Tag):
            return False
        if node.name in HEADINGS:
            return re.search(r"\w", tag.get_text()) is not None
        node = node.parent
    return False


def _own_slug(tag: Tag, ident: str) -> bool:
    """Whether an id is the slug of the element's own heading, as Sphinx, MkDocs and Apache
    name sections ("s-pagination" for "Pagination", "cookies", "SessionCookieName"): then a
    chrome word in it is the topic's, and the element is content."""
    if tag.name in HEADINGS or tag.find_parent(list(HEADINGS)) is not None:
        return True
    heading = tag.find(list(HEADINGS))
    if not isinstance(heading, Tag):
        return False
    slug, name = _squash(heading.get_text()), _squash(ident.removeprefix("s-"))
    return bool(slug) and name.endswith(slug)  # "topics-pagination" wraps page "Pagination"


def _squash(text: str) -> str:
    return re.sub(r"[^a-z0-9]", "", text.lower())
