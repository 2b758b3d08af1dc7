"""Loaded at start-up by the app's process when bench/chat_session.py puts this folder
on PYTHONPATH: it switches the embedded pool to a baseline policy (BENCH_POOL_VARIANT),
so the baseline runs the real app, changed in that one place only."""

import os

variant = os.environ.get("BENCH_POOL_VARIANT", "")
if variant:
    from rag.llms import embedded

    if variant == "adaptive":  # a lone answer decodes on every core
        init = embedded.LlamaPool.__init__

        def adaptive_init(self, *args, **kwargs):
            init(self, *args, **{**kwargs, "adaptive": True})

        embedded.LlamaPool.__init__ = adaptive_init
    elif variant == "no-affinity":  # least recently used context: a follow-up finds its cache by chance
        embedded._reusable = lambda holds, prompt: 0
    else:
        raise SystemExit(f"unknown BENCH_POOL_VARIANT {variant!r}")
