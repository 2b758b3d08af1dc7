"""Refusing a page nested deeper than any page written for people, before parsing it."""

from __future__ import annotations

from lxml import etree

# Real pages nest a few dozen levels; a page nested deeper is refused, which keeps the
# recursive walk far from Python's recursion limit.
MAX_DEPTH = 512


class _TooDeep(Exception):
    pass


class _DepthProbe:
    """An lxml parser target that only counts nesting, and stops past MAX_DEPTH.

    lxml parses in C; BeautifulSoup builds its tree in Python, which takes seconds for
    100k nested elements, so the depth is measured before BeautifulSoup sees the page.
    It sees the same elements: BeautifulSoup's lxml builder is fed by these events.
    """

    def __init__(self) -> None:
        self.depth = 0

    def start(self, tag: str, attrs: object) -> None:
        self.depth += 1
        if self.depth > MAX_DEPTH:
            raise _TooDeep

    def end(self, tag: str) -> None:
        self.depth -= 1

    def data(self, data: str) -> None:
        pass

    def close(self) -> None:
        pass


def too_deep(html: bytes | str) -> bool:
    parser = etree.HTMLParser(target=_DepthProbe(), recover=True)
    try:
        parser.feed(html)
        parser.close()
    except _TooDeep:
        return True
    except etree.Error:  # what lxml cannot parse, BeautifulSoup reads its own way
        return False
    return False
