"""How many threads should read a prompt? The embedded pool's thread split, measured.

    .venv/bin/python bench/prompt_threads.py

Two llama.cpp contexts over the packaged Gemma 3 270M, as the embedded pool
makes them: one decoding thread each (cores / contexts). For each setting of
the prompt-reading threads (`n_threads_batch`: 1, or every core) it times a
RAG-sized prompt (about 700 tokens, as 4 chunks of 600 characters make) alone,
a short raw prompt alone, and both at once from two threads, 40 tokens each,
greedy. The third setting is what rag/llms/embedded.py does: every core, behind
its CoreGate (a prompt is read alone; decoding waits meanwhile; two generations
decode on one core each).
"""

from __future__ import annotations

import os
import threading
import time

from common import write_result

from rag.llms.embedded import model_path

CONTEXT = "Cloud Run services with an NVIDIA L4 GPU need at least 4 CPUs and 16 GiB of memory. " * 30
RAG_PROMPT = (
    f"Context:\n{CONTEXT[:2400]}\nQuestion: How much memory does an L4 service need?\n"
    'Answer (copied from the context): "'
)
RAW_PROMPT = "Question: How much memory does an L4 service need?\nAnswer:"
TOKENS = 40


def context(batch_threads: int, gate=None):
    from llama_cpp import Llama

    from rag.llms.embedded import _gated_llama_class

    cls = Llama if gate is None else _gated_llama_class()
    llm = cls(
        model_path=str(model_path()), n_ctx=4096, n_threads=1, n_threads_batch=batch_threads, verbose=False
    )
    if gate is not None:
        llm.gate = gate
        llm.threads_now = 1
    return llm


def timed(llm, prompt: str, out: dict) -> None:
    llm.reset()
    started, first = time.perf_counter(), None
    for _ in llm.create_completion(prompt, max_tokens=TOKENS, temperature=0.0, stream=True, stop=[]):
        if first is None:
            first = time.perf_counter() - started
    out.update(first_token_s=round(first or 0.0, 3), total_s=round(time.perf_counter() - started, 3))


def measure(batch_threads: int, gated: bool = False) -> dict:
    from rag.llms.embedded import CoreGate

    gate = CoreGate(os.cpu_count() or 1, 2) if gated else None  # one decoding core per context
    rag_llm, raw_llm = context(batch_threads, gate), context(batch_threads, gate)
    try:
        prompt_tokens = len(rag_llm.tokenize(RAG_PROMPT.encode()))
        rag_alone, raw_alone, rag_both, raw_both = {}, {}, {}, {}
        timed(rag_llm, RAW_PROMPT, {})  # warm up both contexts
        timed(raw_llm, RAW_PROMPT, {})
        timed(rag_llm, RAG_PROMPT, rag_alone)
        timed(raw_llm, RAW_PROMPT, raw_alone)
        threads = [
            threading.Thread(target=timed, args=(rag_llm, RAG_PROMPT, rag_both)),
            threading.Thread(target=timed, args=(raw_llm, RAW_PROMPT, raw_both)),
        ]
        started = time.perf_counter()
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        both = time.perf_counter() - started
    finally:
        rag_llm.close()
        raw_llm.close()
    return {
        "rag_prompt_tokens": prompt_tokens,
        "rag_alone": rag_alone,
        "raw_alone": raw_alone,
        "together": {"rag": rag_both, "raw": raw_both, "wall_s": round(both, 3)},
    }


def main() -> None:
    cores = os.cpu_count() or 1
    results = {f"prompt on {n} thread(s)": measure(n) for n in sorted({1, cores})}
    results[f"prompt on {cores} thread(s), alone (the gate)"] = measure(cores, gated=True)
    for name, row in results.items():
        print(name, row)
    print(f"written to {write_result('prompt-threads', {'results': results})}")


if __name__ == "__main__":
    main()
