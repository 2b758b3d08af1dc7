"""llama.cpp's C-level log lines, sent to Python logging instead of stderr."""

from __future__ import annotations

import ctypes
import logging
import threading
from collections.abc import Callable

_log_callback: Callable[[int, bytes, ctypes.c_void_p], None] | None = None
_log_lock = threading.Lock()


def quiet_llama_cpp() -> None:
    """Send llama.cpp's C-level log lines to Python logging instead of stderr.

    Installed once per process, under a lock, and never replaced: llama.cpp holds a
    raw pointer to the callback, so a second installation racing a model load would
    free the first callback while the load still calls it (a SIGSEGV when two
    sessions asked their first question at once)."""
    global _log_callback
    with _log_lock:
        if _log_callback is not None:
            return
        import llama_cpp

        logger = logging.getLogger("llama_cpp")

        @llama_cpp.llama_log_callback
        def forward(level: int, text: bytes, user_data: ctypes.c_void_p) -> None:
            logger.debug(text.decode("utf-8", "replace").rstrip())

        _log_callback = forward  # kept alive for the life of the process
        llama_cpp.llama_log_set(forward, ctypes.c_void_p(0))
