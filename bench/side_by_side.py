"""Side by side: asking RAG and the raw model together, against asking them one after the other.

    .venv/bin/python bench/side_by_side.py [--rounds 5]

For each question, in the same run: RAG alone, raw alone, then both at once
with `rag.side_by_side` (what the Chat page does).
- Against a model server that decodes two requests in parallel (the
  protocol-faithful Ollama server on loopback, as OLLAMA_NUM_PARALLEL ≥ 2 does):
  floor both ≤ 1.15 × max(RAG, raw).
- With the embedded Gemma 3 270M on this machine's CPUs, where compute is
  shared: floor both ≤ 0.85 × (RAG + raw), and both columns must stream at once
  (each side's first token arrives before the other side's last one). Measured
  twice: as the app runs it (one decoding core per context), and with a lone
  answer decoding on every core (faster here, slower under the app's browser:
  bench/chat_session.py).
The index is the bundled sample guide; the questions are its question set.
"""

from __future__ import annotations

import argparse
import statistics
import time

from common import ROOT, write_result

from rag.chains import AnswerEvent, RagChain, RawChain, TokenEvent
from rag.embeddings.local import LocalEmbeddings
from rag.evaluation import load_questions
from rag.indexing import build_index
from rag.llms import make_target
from rag.llms.base import GenerationOptions
from rag.llms.embedded import EmbeddedTarget, LlamaPool, model_path
from rag.loading.fetch import FetchConfig
from rag.loading.loader import WebLoader
from rag.retrieval import Retriever
from rag.side_by_side import side_by_side
from rag.splitting import get_splitter
from tests.servers.ollama import FakeOllama, OllamaState

# The sample guide's own question set (single-turn ones): what a workshop asks first.
QUESTIONS = [
    q.question for q in load_questions(ROOT / "rag" / "data" / "sample-guide-qa.jsonl") if not q.history
]


def alone(chain, question: str) -> float:
    t0 = time.perf_counter()
    for _ in chain.stream(question):
        pass
    return time.perf_counter() - t0


def together(rag, raw, question: str) -> tuple[float, bool]:
    """Wall time, and whether both sides were streaming at the same moment."""
    t0 = time.perf_counter()
    first: dict[str, float] = {}
    last: dict[str, float] = {}
    for item in side_by_side(rag, raw, question):
        now = time.perf_counter()
        if isinstance(item.event, TokenEvent):
            first.setdefault(item.side, now)
            last[item.side] = now
        elif isinstance(item.event, AnswerEvent):
            last.setdefault(item.side, now)
    overlap = len(first) == 2 and first["rag"] < last["raw"] and first["raw"] < last["rag"]
    return time.perf_counter() - t0, overlap


def measure(rag, raw, rounds: int) -> dict:
    rows = []
    for _ in range(rounds):
        for q in QUESTIONS:
            t_rag, t_raw = alone(rag, q), alone(raw, q)
            t_both, overlap = together(rag, raw, q)
            rows.append({"rag": t_rag, "raw": t_raw, "both": t_both, "overlap": overlap})
    ratio_max = statistics.median(r["both"] / max(r["rag"], r["raw"]) for r in rows)
    ratio_sum = statistics.median(r["both"] / (r["rag"] + r["raw"]) for r in rows)
    return {
        "n": len(rows),
        "rag_s": round(statistics.median(r["rag"] for r in rows), 2),
        "raw_s": round(statistics.median(r["raw"] for r in rows), 2),
        "both_s": round(statistics.median(r["both"] for r in rows), 2),
        "both_over_max": round(ratio_max, 3),
        "both_over_sum": round(ratio_sum, 3),
        "streamed_together": sum(r["overlap"] for r in rows) / len(rows),
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    store, _ = build_index(
        WebLoader(FetchConfig()),
        LocalEmbeddings(),
        "local:all-MiniLM-L6-v2",
        crawl=(ROOT / "sample_docs" / "index.html").as_uri(),
        splitter=("sections", get_splitter("sections")),
    )
    retriever = Retriever(store)
    results = {}
    answer = " ".join(["token"] * 40)
    with FakeOllama(OllamaState(answer=lambda m: answer, token_delay=0.05)) as server:
        target = make_target(f"ollama:{server.url}")
        results["parallel_server"] = measure(
            RagChain(target, retriever, model="gemma2:9b"), RawChain(target, model="gemma2:9b"), args.rounds
        )
        print("parallel server:", results["parallel_server"])
    options = GenerationOptions(max_tokens=96, temperature=0.0)  # same answer alone and together
    # What the app does (one decoding core per context), then the alternative in the
    # same run: a lone answer decodes on every core (CoreGate adaptive=True).
    for name, adaptive in (("embedded", False), ("embedded_adaptive", True)):
        pool = LlamaPool(model_path(), size=2, adaptive=adaptive)
        pool.warm()
        embedded = EmbeddedTarget(pool=pool)
        results[name] = measure(
            RagChain(embedded, retriever, options=options), RawChain(embedded, options=options), args.rounds
        )
        pool.close()
        print(f"{name}:", results[name])
    print(f"written to {write_result('side-by-side', results)}")


if __name__ == "__main__":
    main()
