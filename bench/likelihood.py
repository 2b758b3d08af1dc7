"""Query likelihood: how likely the embedded Gemma 3 270M finds a question after reading a
passage, the zero-shot reranker of "Improving Passage Retrieval with Zero-Shot Question
Generation" (Sachan et al., 2022), for bench/rerank.py.

It is a benchmark, not a part of the app: reranking the retriever's best 20 chunks with it
lost gold pages on every manual it was measured on (docs/benchmarks.md), at ten seconds a
question on 2 cores. The model is read through `GatedLlama.token_logprobs`, borrowing a
context from a pool the way the chat does.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from rag.llms.embedded import LlamaPool
    from rag.llms.embedded.llama import GatedLlama

PROMPT = (
    "<start_of_turn>user\nWrite a question that this passage from the documentation answers."
    "\n\nPassage: {passage}<end_of_turn>\n<start_of_turn>model\nQuestion:"
)
PASSAGE_CHARS = 600  # the start of a chunk: its heading path and first paragraphs
QUESTION_TOKENS = 128  # a follow-up's search text holds the last exchange too


class QueryLikelihood:
    """Scores a passage by the mean log-probability of the question's tokens after it."""

    def __init__(self, pool: LlamaPool, passage_chars: int = PASSAGE_CHARS) -> None:
        self.pool = pool
        self.passage_chars = passage_chars

    def scores(self, question: str, passages: Sequence[str]) -> list[float]:
        """A score per passage (a mean log-probability): higher, the likelier the question."""
        if not passages:
            return []
        with self.pool.context() as pooled:
            pooled.holds = ""  # scoring overwrites the context's cache
            return [self._score(pooled.llama, question, p) for p in passages]

    def _score(self, llm: GatedLlama, question: str, passage: str) -> float:
        tail = llm.tokenize((" " + question.strip()).encode(), add_bos=False, special=False)
        tail = tail[-QUESTION_TOKENS:] or llm.tokenize(b" ?", add_bos=False, special=False)
        text = PROMPT.format(passage=passage[: self.passage_chars])
        head = llm.tokenize(text.encode(), add_bos=True, special=True)
        head = head[: max(1, llm.n_batch - len(tail))]
        return float(np.mean(llm.token_logprobs(head + tail, len(head))))
