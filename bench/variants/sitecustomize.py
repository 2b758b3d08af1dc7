"""Loaded at start-up by the app's process when bench/chat_session.py puts this folder
on PYTHONPATH: it builds the embedded pool with a baseline policy (BENCH_POOL_VARIANT)
through the package's seam, `rag.llms.embedded.set_pool_factory`, so the baseline runs
the real app, changed in that one place only."""

import functools
import os

# LlamaPool's keyword arguments for each baseline.
VARIANTS = {
    "adaptive": {"adaptive": True},  # a lone answer decodes on every core
    "no-affinity": {"affinity": False},  # least recently used context: a follow-up finds its cache by chance
}

variant = os.environ.get("BENCH_POOL_VARIANT", "")
if variant:
    if variant not in VARIANTS:
        raise SystemExit(f"unknown BENCH_POOL_VARIANT {variant!r}; use one of {', '.join(VARIANTS)}")
    from rag.llms.embedded import LlamaPool, set_pool_factory

    set_pool_factory(functools.partial(LlamaPool, **VARIANTS[variant]))
