"""The sentences of the retrieved chunks that answer a question, best first.

The embedded Gemma 3 270M is a small base model: with the answer in its prompt
it copies what comes first and rarely finds a fact in the middle of a chunk. So
for such a model the RAG prompt is built from evidence: the retrieved chunks are
cut into sentences, each is scored by how much of the question it covers, and the
best ones lead the context. When no sentence covers the question's distinctive
words, the pages do not answer it, and the chain says so instead of letting the
model continue a quotation that is not there (docs/decisions.md, "Answers from a
small model").
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass

from langchain_core.documents import Document

from .lexical import tokenize

_SENTENCE = re.compile(r"(?<=[.!?])\s+(?=[A-Z0-9`\"'(])|\n{2,}|\n(?=[-*•]\s)")
_MIN_CHARS = 20


@dataclass(frozen=True)
class Evidence:
    text: str
    title: str
    score: float  # the share of the question's term weight this sentence holds, 0..1
    chunk: int  # which retrieved chunk it comes from (0 is the best ranked)


def sentences(text: str) -> list[str]:
    """`text` cut into sentences (list items and paragraphs count as sentences)."""
    parts = (" ".join(p.split()) for p in _SENTENCE.split(text))
    return [p for p in parts if len(p) >= _MIN_CHARS]


def _stem(word: str) -> str:
    """A light stem, so "billed" meets "billing", "GPUs" meets "GPU", "cached" meets "cache"."""
    if word.endswith("ing") and len(word) > 5:
        word = word[:-3]
    elif word.endswith("ed") and len(word) > 4:
        word = word[:-2]
    elif word.endswith("s") and not word.endswith("ss") and len(word) > 3:
        word = word[:-1]
    return word[:-1] if word.endswith("e") and len(word) > 4 else word


def _terms(text: str) -> set[str]:
    return {_stem(t) for t in tokenize(text)}


def rank(question: str, docs: Sequence[Document]) -> list[Evidence]:
    """Every sentence of `docs`, best first.

    A question term weighs more the fewer sentences hold it (an inverse document
    frequency over the retrieved sentences, with a term found nowhere weighing the
    most: it is what the pages do not talk about). Ties go to the better ranked chunk.
    """
    found = [
        (s, doc.metadata.get("title", ""), i)
        for i, doc in enumerate(docs)
        for s in sentences(doc.page_content)
    ]
    wanted = _terms(question)
    if not found or not wanted:
        return []
    held = [_terms(s) for s, _, _ in found]
    weight = {t: math.log(1 + len(found) / (1 + sum(t in h for h in held))) for t in wanted}
    total = sum(weight.values())
    scored = [
        Evidence(text, title, sum(weight[t] for t in wanted & h) / total, chunk)
        for (text, title, chunk), h in zip(found, held, strict=True)
    ]
    return sorted(scored, key=lambda e: (-e.score, e.chunk))


@dataclass(frozen=True)
class Policy:
    """How a small model's answer is built from evidence (chosen with bench/answers.py).

    `quote=True` answers with the best sentences, quoted with their source numbers:
    the 270M model paraphrased them into wrong numbers even when they led its prompt
    (docs/decisions.md). `quote=False` puts them in the model's prompt instead."""

    sentences: int = 2  # the best sentences that make up the context (or the quote), best first
    threshold: float = 0.4  # below this share of the question, the pages do not answer it
    quote: bool = True  # answer with the sentences themselves instead of asking the model

    def select(self, question: str, docs: Sequence[Document]) -> list[Evidence]:
        """The context's sentences, or [] when no sentence answers the question."""
        best = rank(question, docs)
        if not best or best[0].score < self.threshold:
            return []
        return best[: self.sentences]


def quote(evidence: Sequence[Evidence]) -> str:
    """The sentences as an answer, each with the number of the source it comes from."""
    return " ".join(f"“{e.text}” [{e.chunk + 1}]" for e in evidence)
