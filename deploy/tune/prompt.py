"""A RAG-sized chat request, built offline and deterministically.

The chat page sends the notebook's answer prompt (`rag.prompts.ANSWER_SYSTEM`)
with the top 4 retrieved chunks and the question; so does the load test. The
chunks are cut from fixed documentation-like text, rotated by a seed so every
request in a sweep has a different context: real participants ask different
questions, and identical prompts would let Ollama reuse its prompt cache and
make prompt evaluation look free.
"""

from __future__ import annotations

from typing import Any

from langchain_core.documents import Document

from rag.prompts import ANSWER_SYSTEM, format_context

CHUNKS = 4  # the app's RAG_TOP_K
CHUNK_CHARS = 800
MAX_TOKENS = 256  # the app's RAG_MAX_TOKENS
TEMPERATURE = 0.2  # the app's RAG_TEMPERATURE

TITLES = (
    "Cloud Run GPU support",
    "Running Ollama on Cloud Run",
    "Configuring concurrency",
    "Autoscaling and cold starts",
    "Service identity and authentication",
    "Gemma model sizes",
)

SENTENCES = (
    "Cloud Run services can attach one NVIDIA L4 GPU per instance, with at least 4 CPUs and 16 GiB "
    "of memory.",
    "GPU instances are billed for their whole lifetime, from start until they shut down after idling.",
    "Setting minimum instances to zero lets the service scale to zero when nobody is calling it.",
    "A cold start includes starting the container, loading the model weights into GPU memory, and "
    "answering the first request.",
    "Ollama keeps a model in memory for five minutes after the last request unless OLLAMA_KEEP_ALIVE "
    "says otherwise.",
    "OLLAMA_NUM_PARALLEL sets how many requests one model serves at the same time; each slot reserves "
    "context memory.",
    "Cloud Run's concurrency setting caps how many requests it sends to one instance before it starts "
    "another.",
    "When every instance is full and max instances is reached, Cloud Run holds requests briefly and "
    "then answers 429.",
    "Requests that wait inside Ollama's queue are invisible to Cloud Run's autoscaler.",
    "A private service checks that each request carries a Google ID token whose audience is the service URL.",
    "Grant roles/run.invoker to the accounts that may call the service, and keep ingress restricted.",
    "Gemma 2 9B quantized to four bits needs about 6 GB of GPU memory, leaving room for several "
    "context slots on an L4.",
    "The context window grows the key-value cache linearly, so long prompts and many slots compete "
    "for the same memory.",
    "Streaming responses send each token as soon as it is decoded, so the first words appear long "
    "before the answer ends.",
    "Time to first token is dominated by prompt evaluation, which grows with the length of the "
    "retrieved context.",
    "Output tokens per second per request usually falls as more requests share the GPU, while the "
    "total rises.",
    "Baking the model into the container image avoids downloading it on every cold start.",
    "Cloud Build can build and push the image to Artifact Registry in the same region as the service.",
    "The request timeout of a Cloud Run service can be raised to one hour for long generations.",
    "Zonal redundancy reserves spare GPU capacity in another zone, at a higher price.",
)

QUESTIONS = (
    "How should I set OLLAMA_NUM_PARALLEL and the Cloud Run concurrency for a GPU service?",
    "Why does the first request after a quiet period take so long?",
    "How does a private Cloud Run service decide who may call it?",
    "What happens when every instance is busy and max instances is reached?",
    "How much GPU memory does Gemma 2 9B need, and what else uses that memory?",
)


def chunk(seed: int, index: int, chars: int = CHUNK_CHARS) -> Document:
    """~`chars` characters of sentences, starting at a seed-dependent place, cut at a word."""
    n = len(SENTENCES)
    # Chunk 0 varies with seed % n, the others also with seed // n: n*n distinct contexts.
    start = (seed * (2 * index + 3) + (seed // n) * index + index * 5) % n
    parts: list[str] = []
    i = start
    while sum(len(p) + 1 for p in parts) < chars:
        parts.append(SENTENCES[i % n])
        i += 1
    text = " ".join(parts)[:chars].rsplit(" ", 1)[0]
    return Document(page_content=text, metadata={"title": TITLES[(seed + index) % len(TITLES)]})


def rag_messages(
    seed: int = 0, *, chunks: int = CHUNKS, chunk_chars: int = CHUNK_CHARS
) -> list[dict[str, str]]:
    """System prompt with `chunks` retrieved chunks, then one question: what the chat sends."""
    context = format_context([chunk(seed, i, chunk_chars) for i in range(chunks)])
    return [
        {"role": "system", "content": ANSWER_SYSTEM.replace("{context}", context)},
        {"role": "user", "content": QUESTIONS[seed % len(QUESTIONS)]},
    ]


def chat_payload(
    model: str,
    seed: int = 0,
    *,
    max_tokens: int = MAX_TOKENS,
    chunks: int = CHUNKS,
    chunk_chars: int = CHUNK_CHARS,
    api: str = "ollama",
) -> dict[str, Any]:
    """A streaming chat body: Ollama's `POST /api/chat`, or (api="openai") `/v1/chat/completions`."""
    messages = rag_messages(seed, chunks=chunks, chunk_chars=chunk_chars)
    if api == "openai":
        return {
            "model": model,
            "messages": messages,
            "stream": True,
            "max_tokens": max_tokens,
            "temperature": TEMPERATURE,
            "stream_options": {"include_usage": True},
        }
    return {
        "model": model,
        "messages": messages,
        "stream": True,
        "options": {"num_predict": max_tokens, "temperature": TEMPERATURE},
    }
