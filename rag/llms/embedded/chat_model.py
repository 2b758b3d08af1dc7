"""EmbeddedGemma: a LangChain chat model over a LlamaPool's contexts."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

from langchain_core.callbacks import CallbackManagerForLLMRun
from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, AIMessageChunk, BaseMessage, UsageMetadata
from langchain_core.outputs import ChatGeneration, ChatGenerationChunk, ChatResult
from pydantic import ConfigDict, Field

from ...prompts import COMPLETION_STOPS, render_completion
from .model_file import MODEL_NAME
from .pool import LlamaPool, PooledLlama


class EmbeddedGemma(BaseChatModel):
    """A LangChain chat model over the pooled llama.cpp contexts.

    Gemma 3 270M is a small base model: it answers text with text (no tools, no
    structured output, no images). While a generation waits for a context, the
    stream yields empty chunks whose `response_metadata["waiting"]` is the number
    of generations ahead."""

    model_config = ConfigDict(arbitrary_types_allowed=True)

    pool: LlamaPool = Field(exclude=True)
    model_name: str = MODEL_NAME  # what traces report; there is one model
    max_tokens: int = 256
    temperature: float = 0.2
    repeat_penalty: float = 1.15
    stop: list[str] = Field(default_factory=lambda: list(COMPLETION_STOPS))

    @property
    def _llm_type(self) -> str:
        return "embedded-llama-cpp"

    def _generate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        text, last = "", None
        for chunk in self._stream(messages, stop, run_manager, **kwargs):
            text += str(chunk.message.content)
            last = chunk.message
        meta = last.response_metadata if last is not None else {}
        usage = last.usage_metadata if isinstance(last, AIMessageChunk) else None
        message = AIMessage(content=text, response_metadata=meta, usage_metadata=usage)
        return ChatResult(generations=[ChatGeneration(message=message)])

    def _stream(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> Iterator[ChatGenerationChunk]:
        prompt, extra_stops = render_completion(messages)
        stops = list(dict.fromkeys([*self.stop, *extra_stops, *(stop or [])]))
        turn = self.pool.queue(prompt)
        try:
            for ahead in turn.wait():
                # Nothing to say yet but how many are ahead; it also lets a Stop leave the queue.
                yield ChatGenerationChunk(
                    message=AIMessageChunk(content="", response_metadata={"waiting": ahead})
                )
            with turn.hold() as llm:
                yield from self._complete(llm, prompt, stops, run_manager)
        finally:
            turn.close()

    def _complete(
        self,
        context: PooledLlama,
        prompt: str,
        stops: list[str],
        run_manager: CallbackManagerForLLMRun | None,
    ) -> Iterator[ChatGenerationChunk]:
        llm = context.llama
        if self.temperature == 0:
            # Greedy answers must repeat: reusing the prefix a context holds changes
            # the batch split, and greedy answers then differed between runs of the
            # same question. Sampled answers reuse it, so a follow-up does not
            # reread its whole conversation.
            llm.reset()
        context.holds = prompt
        prompt_tokens = len(llm.tokenize(prompt.encode("utf-8"), add_bos=True))
        budget = max(16, min(self.max_tokens, llm.n_ctx() - prompt_tokens - 8))
        produced, reason = 0, None
        started = time.perf_counter()
        for part in llm.create_completion(
            prompt,
            max_tokens=budget,
            temperature=self.temperature,
            repeat_penalty=self.repeat_penalty,
            stop=stops,
            stream=True,
        ):
            choice = part["choices"][0]
            reason = choice.get("finish_reason") or reason
            if choice["text"]:
                produced += 1
                context.holds += choice["text"]
                chunk = ChatGenerationChunk(message=AIMessageChunk(content=choice["text"]))
                if run_manager:
                    run_manager.on_llm_new_token(choice["text"], chunk=chunk)
                yield chunk
        yield _finish_chunk(prompt_tokens, produced, reason, time.perf_counter() - started)


def _finish_chunk(
    prompt_tokens: int, produced: int, reason: str | None, seconds: float
) -> ChatGenerationChunk:
    """The last chunk: token counts and why the generation ended."""
    usage = UsageMetadata(
        input_tokens=prompt_tokens, output_tokens=produced, total_tokens=prompt_tokens + produced
    )
    meta = {"model_name": MODEL_NAME, "done_reason": reason or "stop", "eval_seconds": seconds}
    message = AIMessageChunk(content="", usage_metadata=usage, response_metadata=meta, chunk_position="last")
    return ChatGenerationChunk(message=message)
