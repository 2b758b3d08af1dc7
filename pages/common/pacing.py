"""How often a streaming answer column redraws.

Every redraw is a websocket message built in the app's one Python process, under the
GIL that every session's script and model stream share. Alone, a column redraws every
BASE_S; when many columns stream at once (a room asking together) each redraws less
often, so the process sends about the same number of messages a second however many
sessions stream, and first tokens are not queued behind other sessions' redraws
(bench/load_room.py). A column's first text and its final answer are always drawn at once.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator

BASE_S = 0.15
FULL_RATE_COLUMNS = 8  # columns that may all redraw every BASE_S
MAX_S = 1.0  # never slower than this: text still visibly flows

_lock = threading.Lock()
_streaming = 0


@contextlib.contextmanager
def streaming(columns: int) -> Iterator[None]:
    """Count `columns` as streaming in this process while the block runs."""
    global _streaming
    with _lock:
        _streaming += columns
    try:
        yield
    finally:
        with _lock:
            _streaming -= columns


def interval() -> float:
    """Seconds between two redraws of one streaming column, now."""
    return min(MAX_S, BASE_S * max(1.0, _streaming / FULL_RATE_COLUMNS))


def active() -> int:
    return _streaming
