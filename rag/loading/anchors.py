"""Which id a link to a heading should use (the `#anchor` of a section's source)."""

from __future__ import annotations

import re

from bs4 import NavigableString, Tag

HEADINGS = {"h1": 1, "h2": 2, "h3": 3, "h4": 4, "h5": 5, "h6": 6}


def heading_anchor(tag: Tag) -> str | None:
    """The id a link to this heading should use: its own, its parent's, one inside it, the
    wrapper it opens further up (DocBook), the empty <a name> right before it (GTK-doc)."""
    if tag.get("id"):
        return str(tag["id"])
    parent = tag.parent
    if isinstance(parent, Tag) and parent.get("id") and parent.name in {"section", "div"}:
        return str(parent["id"])
    inner = tag.find(lambda t: isinstance(t, Tag) and (t.get("id") or t.get("name")))
    if isinstance(inner, Tag):
        return str(inner.get("id") or inner.get("name"))
    wrapper = _wrapping_section(tag)
    if wrapper is not None:
        return str(wrapper["id"])
    before = _just_before(tag)
    if before is not None and (before.get("id") or before.get("name")):
        return str(before.get("id") or before.get("name"))
    link = tag.find("a", href=re.compile(r"^#."))
    if isinstance(link, Tag):
        return str(link["href"])[1:]
    return None


def _just_before(tag: Tag) -> Tag | None:
    """The empty <a> right before this element, with only whitespace between."""
    node = tag.previous_sibling
    while isinstance(node, NavigableString) and not node.strip():
        node = node.previous_sibling
    if isinstance(node, Tag) and node.name == "a" and not node.get_text(strip=True):
        return node
    return None


def _wrapping_section(tag: Tag, levels: int = 5, budget: int = 40) -> Tag | None:
    """The nearest section or div with an id that this heading opens: nothing with text
    comes before it inside (DocBook: div.sect1#ID > div.titlepage > div > div > h2). Each
    wrapper is read only up to `budget` nodes, so deep nesting costs linear time."""
    node = tag.parent
    for _ in range(levels):
        if not isinstance(node, Tag) or node.name not in {"section", "div", "article"}:
            return None
        if node.get("id"):
            return node if _opens(node, tag, budget) else None
        node = node.parent
    return None


def _opens(wrapper: Tag, heading: Tag, budget: int) -> bool:
    """Whether `heading` comes first in `wrapper`: no text and no other heading before it."""
    for seen, node in enumerate(wrapper.descendants):
        if node is heading:
            return True
        if seen >= budget or (isinstance(node, Tag) and node.name in HEADINGS):
            return False
        if type(node) is NavigableString and node.strip():
            return False
    return False
