#!/usr/bin/env bash
# Every benchmark, one after the other (they share 2 cores: never run two at once).
# Results land in bench/results/*.json; docs/benchmarks.md reports them.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=.venv/bin/python
$PY bench/retrieval.py --corpus python --configs sections-900 sections-600 --rewrite
$PY bench/retrieval.py --corpus sqlite --configs sections-900 --rewrite
$PY bench/retrieval.py --corpus git --configs sections-900 --rewrite
$PY bench/latency.py
$PY bench/side_by_side.py
$PY bench/first_answer.py
$PY bench/compare.py
$PY bench/indexing.py
