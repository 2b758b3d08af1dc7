"""What several commands share: opening an index with its chains, reading question files."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING, Any

from ..errors import InputError
from ..evaluation import Question, load_questions
from ..settings import Settings

if TYPE_CHECKING:  # the chains pull in LangChain: imported when a command needs them
    from ..chains import RagChain, RawChain


def open_chains(args: argparse.Namespace, settings: Settings) -> tuple[RagChain, RawChain]:
    """The RAG and raw chains over the index `--index` names."""
    from ..pipeline import make_chains, open_index
    from ..retrieval import Retriever

    retriever = Retriever(open_index(args.index, settings))
    rag, raw = make_chains(settings, retriever)
    assert rag is not None
    return rag, raw


def questions(path: str) -> list[Question]:
    """A question file's questions; an empty or bad file is refused before any index is opened."""
    found = load_questions(path)
    if not found:
        raise InputError(f"{path} holds no questions.", 'Write one JSON object with a "question" per line.')
    return found


def hit_json(hit: Any) -> dict[str, Any]:
    meta = hit.document.metadata
    return {
        "source": meta.get("source", ""),
        "title": meta.get("title", ""),
        "content": hit.document.page_content,
        "score": round(hit.score, 6),
    }
