"""Pages of chunks as the loader and splitter make them, and a counting embedder: what the
retriever tests share (tests/rag/test_outlines.py, test_hub_pages.py)."""

import threading

import numpy as np
from langchain_core.documents import Document

from rag.store import SKLearnStore


def page(url: str, title: str, sections: list[tuple[str, str]]) -> list[Document]:
    """A page's chunks, one a section, each starting with its heading path."""
    return [
        Document(
            f"{title} › {h}\n{t}",
            metadata={"url": f"http://d/{url}", "title": title, "heading": f"{title} › {h}"},
        )
        for h, t in sections
    ]


class Counting:
    """Another embedder, counting the calls and texts it embeds as documents."""

    def __init__(self, inner) -> None:
        self.inner, self.calls, self.texts = inner, 0, 0
        self.lock = threading.Lock()

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        with self.lock:
            self.calls, self.texts = self.calls + 1, self.texts + len(texts)
        return self.inner.embed_documents(texts)

    def embed_query(self, text: str) -> list[float]:
        return self.inner.embed_query(text)


def store_of(embeddings, docs: list[Document]) -> SKLearnStore:
    store = SKLearnStore(embeddings, "local:all-MiniLM-L6-v2")
    store.add_vectors(docs, np.asarray(embeddings.embed_documents([d.page_content for d in docs])))
    return store
