"""Would decoding RAG and raw in one llama.cpp batch beat two contexts side by side?

    .venv/bin/python bench/decode_batching.py

Batching pays when a decoding step is bound by reading the weights: two
sequences in one batch read them once. This times one decoding step of the
packaged Gemma 3 270M through llama.cpp's low-level API, in the ways the
embedded pool could run two answers on this machine's cores:
- one sequence on one core, and on every core (a lone answer);
- one sequence without its logits (the 262k-word output layer skipped);
- two sequences in one batch of one context, on every core;
- two contexts decoding at once from two threads, one core each (what the pool does);
- a 600-token prompt read in chunks of 64, with and without the other
  sequence's decoding token riding in each chunk.
Every figure is the median of repeated runs in this process.
"""

from __future__ import annotations

import os
import statistics
import threading
import time

from common import write_result

STEPS = 48
REPEATS = 3


class Context:
    def __init__(self, model, sequences: int, threads: int) -> None:
        import llama_cpp
        from llama_cpp import _internals

        params = llama_cpp.llama_context_default_params()
        params.n_ctx, params.n_batch, params.n_ubatch = 4096 * sequences, 512, 512
        params.n_seq_max, params.kv_unified = sequences, False
        params.n_threads = params.n_threads_batch = threads
        self.llama_cpp = llama_cpp
        self.ctx = _internals.LlamaContext(model=model, params=params, verbose=False)
        self.batch = _internals.LlamaBatch(n_tokens=512, embd=0, n_seq_max=sequences)

    def decode(self, entries: list[tuple[int, int, int, bool]]) -> None:
        """One llama_decode of (token, position, sequence, wants logits) entries."""
        b = self.batch.batch
        for i, (token, pos, seq, logits) in enumerate(entries):
            b.token[i], b.pos[i], b.seq_id[i][0], b.n_seq_id[i], b.logits[i] = token, pos, seq, 1, logits
        b.n_tokens = len(entries)
        self.ctx.decode(self.batch)

    def clear(self) -> None:
        self.llama_cpp.llama_memory_clear(self.ctx.memory, True)

    def close(self) -> None:
        self.batch.close()
        self.ctx.close()


def steps(ctx: Context, sequences: int, logits: bool = True, token: int = 100) -> float:
    """Seconds per decoding step, `sequences` tokens a step, after a 64-token prompt each."""
    ctx.clear()
    for seq in range(sequences):
        ctx.decode([(token, pos, seq, False) for pos in range(64)])
    started = time.perf_counter()
    for pos in range(64, 64 + STEPS):
        ctx.decode([(token, pos, seq, logits) for seq in range(sequences)])
    return (time.perf_counter() - started) / STEPS


def prompt_read(ctx: Context, tokens: list[int], riding: bool, chunk: int = 64) -> tuple[float, int]:
    """Seconds to read `tokens` as sequence 0; with `riding`, sequence 1 decodes a token per chunk."""
    ctx.clear()
    ctx.decode([(tokens[0], pos, 1, False) for pos in range(16)])
    rode, started = 0, time.perf_counter()
    for start in range(0, len(tokens), chunk):
        entries = [(t, start + i, 0, False) for i, t in enumerate(tokens[start : start + chunk])]
        if riding:
            entries.append((tokens[0], 16 + rode, 1, True))
            rode += 1
        ctx.decode(entries)
    return time.perf_counter() - started, rode


def median(fn, *args) -> float:
    return statistics.median(fn(*args) for _ in range(REPEATS))


def parallel_contexts(a: Context, b: Context) -> float:
    """Seconds per step while two contexts decode one sequence each at the same time."""
    out: dict[int, float] = {}
    threads = [
        threading.Thread(target=lambda i, c: out.__setitem__(i, steps(c, 1)), args=(i, c))
        for i, c in ((0, a), (1, b))
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return max(out.values())


def main() -> None:
    import llama_cpp
    from llama_cpp import _internals

    from rag.llms.embedded import _quiet_llama_cpp, model_path

    _quiet_llama_cpp()
    cores = os.cpu_count() or 1
    model = _internals.LlamaModel(
        path_model=str(model_path()), params=llama_cpp.llama_model_default_params(), verbose=False
    )
    text = "Cloud Run services with an NVIDIA L4 GPU need at least 4 CPUs and 16 GiB of memory. " * 40
    tokens = model.tokenize(text.encode(), True, False)[:600]
    one, all_cores, pair = Context(model, 1, 1), Context(model, 1, cores), Context(model, 2, cores)
    other = Context(model, 1, 1)
    try:
        ms = {
            "one sequence, 1 core": median(steps, one, 1),
            f"one sequence, {cores} cores": median(steps, all_cores, 1),
            f"one sequence, {cores} cores, no logits": median(steps, all_cores, 1, False),
            f"two sequences in one batch, {cores} cores": median(steps, pair, 2),
            "two contexts at once, 1 core each": median(parallel_contexts, one, other),
        }
        step_ms = {k: round(v * 1000, 2) for k, v in ms.items()}
        alone = statistics.median(prompt_read(pair, tokens, False)[0] for _ in range(REPEATS))
        runs = [prompt_read(pair, tokens, True) for _ in range(REPEATS)]
        riding = statistics.median(r[0] for r in runs)
        rode = runs[0][1]
    finally:
        for c in (one, all_cores, pair, other):
            c.close()
    result = {
        "cores": cores,
        "step_ms": step_ms,
        "ms_per_token": {
            k: round(v / (2 if k.startswith("two") else 1), 2)
            for k, v in step_ms.items()
            if "no logits" not in k
        },
        "prompt_600_tokens": {
            "chunks_of_64_s": round(alone, 3),
            "with_a_riding_token_s": round(riding, 3),
            "riding_tokens": rode,
            "ms_per_riding_token": round((riding - alone) / rode * 1000, 2),
        },
    }
    print(result)
    print(f"written to {write_result('decode-batching', result)}")


if __name__ == "__main__":
    main()
