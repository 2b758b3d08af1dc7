"""Splitting section documents into chunks, by name.

- `sections` (default): structure-aware. Each chunk stays inside one heading
  section, starts with its heading path (so the embedder and the model both see
  what the text is about), and fits the local embedder's 256-token window.
  Tiny sections are merged into the next one on the same page (`min_intro`, off by
  default, also folds a longer introduction into its own first subsection: measured by
  bench/min_section.py --intro, docs/decisions.md "Thirty-fourth round").
- `recursive`: LangChain's RecursiveCharacterTextSplitter, no headings.
- `notebook`: the notebook's `CharacterTextSplitter(chunk_size=800, chunk_overlap=100)`.

The choice of default and its size come from `bench/retrieval.py`; see
docs/benchmarks.md. Every chunk links to the nearest anchor at or just after its
start, so a source link opens the page where the chunk is.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from langchain_core.documents import Document
from langchain_text_splitters import CharacterTextSplitter, RecursiveCharacterTextSplitter

from .errors import InputError

SEPARATORS = ["\n\n", "\n", ". ", "; ", ", ", " ", ""]


@dataclass(frozen=True)
class SplitterSpec:
    name: str
    chunk_size: int
    chunk_overlap: int
    with_headings: bool
    min_section: int = 0
    min_intro: int = 0


SPLITTERS: dict[str, SplitterSpec] = {
    "sections": SplitterSpec("sections", 900, 150, with_headings=True, min_section=250),
    "recursive": SplitterSpec("recursive", 900, 150, with_headings=False),
    "notebook": SplitterSpec("notebook", 800, 100, with_headings=False),
}


def get_splitter(name: str, **overrides: int) -> Callable[[list[Document]], list[Document]]:
    """A function turning section documents into chunks, for the splitter `name`."""
    try:
        spec = SPLITTERS[name]
    except KeyError:
        raise InputError(f"Unknown splitter {name!r}.", f"Choose one of: {', '.join(SPLITTERS)}.") from None
    if overrides:
        spec = SplitterSpec(**{**spec.__dict__, **overrides})
    if spec.name == "notebook":
        inner = CharacterTextSplitter(
            chunk_size=spec.chunk_size, chunk_overlap=spec.chunk_overlap, add_start_index=True
        )
    else:
        inner = RecursiveCharacterTextSplitter(
            chunk_size=spec.chunk_size,
            chunk_overlap=spec.chunk_overlap,
            separators=SEPARATORS,
            add_start_index=True,
        )

    def split(docs: list[Document]) -> list[Document]:
        if spec.min_section or spec.min_intro:
            docs = merge_small(docs, spec.min_section, spec.min_intro)
        chunks = []
        for doc in docs:
            for chunk in inner.split_documents([doc]):
                chunks.append(_finish(chunk, spec.with_headings))
        return chunks

    return split


def merge_small(docs: list[Document], min_chars: int, min_intro: int = 0) -> list[Document]:
    """Fold sections shorter than `min_chars` into the next section of the same page, and
    those shorter than `min_intro` whose next section is one of their own subsections."""
    merged: list[Document] = []
    pending: Document | None = None
    for doc in docs:
        if pending is not None and _folds(pending, doc, min_chars, min_intro):
            doc = _join(pending, doc)
        elif pending is not None:
            merged.append(pending)
        pending = None
        if len(doc.page_content) < max(min_chars, min_intro):
            pending = doc
        else:
            merged.append(doc)
    if pending is not None:
        merged.append(pending)
    return merged


def _folds(small: Document, doc: Document, min_chars: int, min_intro: int) -> bool:
    if small.metadata["url"] != doc.metadata["url"]:
        return False
    if len(small.page_content) < min_chars:
        return True
    own = small.metadata.get("heading") or ""
    return not own or (doc.metadata.get("heading") or "").startswith(own + " › ")


def _join(first: Document, second: Document) -> Document:
    heading = second.metadata.get("heading") or first.metadata.get("heading", "")
    prefix = first.page_content
    own = (first.metadata.get("heading") or "").split(" › ")[-1]
    if own and first.metadata["heading"] != heading and not prefix.startswith(own):
        prefix = own + "\n" + prefix
    shift = len(prefix) + 1
    anchors = [*_own_anchor(first, 0), *first.metadata.get("anchors", [])]
    anchors += [*_own_anchor(second, shift)]
    anchors += [(offset + shift, a) for offset, a in second.metadata.get("anchors", [])]
    meta = {**second.metadata, "anchors": anchors}
    if first.metadata.get("source") != first.metadata.get("url"):
        meta["source"] = first.metadata["source"]
    return Document(page_content=prefix + "\n" + second.page_content, metadata=meta)


def _own_anchor(doc: Document, offset: int) -> list[tuple[int, str]]:
    """A section's heading anchor, as an anchor point at `offset` of merged text."""
    source, url = doc.metadata.get("source", ""), doc.metadata.get("url", "")
    return [(offset, source.split("#", 1)[1])] if source != url and "#" in source else []


def _finish(chunk: Document, with_headings: bool) -> Document:
    meta = dict(chunk.metadata)
    start = meta.pop("start_index", 0)
    anchor = best_anchor(meta.pop("anchors", []), start, len(chunk.page_content))
    if anchor:
        meta["source"] = f"{meta['url']}#{anchor}"
    text = chunk.page_content
    heading = meta.get("heading") or ""
    if with_headings and heading:
        text = f"{heading}\n{text}"
    return Document(page_content=text, metadata=meta)


def best_anchor(anchors: list[tuple[int, str]], start: int, length: int) -> str | None:
    """The anchor a chunk should link to: one in its first third, else the last one before it."""
    before = None
    for offset, anchor in anchors:
        if offset <= start:
            before = anchor
        elif offset <= start + length // 3:
            return anchor
        else:
            break
    return before
