#!/usr/bin/env bash
# Every benchmark, one after the other (they share 2 cores: never run two at once;
# many hours: every manual is embedded, the probes score all of them at each setting, and
# the reranker reads thousands of chunks),
# then docs/benchmarks.md written from bench/results/*.json.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=.venv/bin/python
$PY bench/retrieval.py
$PY bench/cli_route.py
$PY bench/retrieval_variants.py
$PY bench/rerank.py
$PY bench/retrieval_probes.py
$PY bench/anchor_probe.py
$PY bench/outline_probe.py
$PY bench/outline_probe.py --follow-ups
$PY bench/outline_cost.py
$PY bench/question_probe.py
$PY bench/hub_probe.py --weights 0 0.0625 0.125 0.25
$PY bench/hub_cost.py
$PY bench/aggregate_pages.py
$PY bench/small_site_probe.py
$PY bench/reads.py --guide "$(mktemp -d)"
$PY bench/expansion_probe.py --weights 0 0.0625 0.125 0.25
$PY bench/expansion_probe.py --weights 0.125 0.25 --terms 5 --feedback 2
$PY bench/bigram_probe.py
$PY bench/centering_probe.py --shares 0 0.25 0.5 0.75 1
$PY bench/ltr_probe.py
$PY bench/keyword_probe.py
$PY bench/second_chunk_probe.py
$PY bench/length_probe.py
$PY bench/site_probe.py
$PY bench/hyde_check.py
$PY bench/latency.py
$PY bench/side_by_side.py
$PY bench/prompt_threads.py
$PY bench/decode_batching.py
$PY bench/first_answer.py
$PY bench/chat_session.py
$PY bench/compare.py
$PY bench/answers.py
$PY bench/stress_cold.py
$PY bench/load_room.py --target both
$PY bench/shared_index.py
$PY bench/hostile_fetch.py
$PY bench/busy_site.py
$PY bench/hostile_files.py
$PY bench/loader_sweep.py
# The first 200 pages (alphabetical) keep the three pipelines to ~15 minutes on 2 cores.
$PY bench/indexing.py --pages 200
$PY bench/report.py
