"""A deadline for a whole fetch, and a way to stop it now.

Socket timeouts bound each read, not a fetch: a server that sends one byte a
second (in its headers or its body) never trips them. So every fetch is
watched: one shared daemon thread looks at the open fetches ten times a second,
and when a fetch passes its deadline or its cancel event is set, it shuts the
fetch's sockets down. The blocked read returns at once and the fetcher, seeing
`Watch.fired`, reports a timeout or a stop.

The watch holds a duplicate of each socket's descriptor: shutting it down ends
the connection for every descriptor (TLS included) without racing the owner's
close, and the duplicate is closed only when the fetch ends.
"""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

POLL_S = 0.1


class Watch:
    """One fetch's deadline, cancel event and sockets."""

    def __init__(self, deadline: float, cancel: threading.Event | None) -> None:
        self.deadline = deadline
        self.cancel = cancel
        self.fired: str | None = None  # "timeout" or "cancelled" once the watchdog acted
        self._socks: list[socket.socket] = []
        self._lock = threading.Lock()
        self._closed = False

    def remaining(self) -> float:
        return self.deadline - time.monotonic()

    def attach(self, sock: socket.socket) -> None:
        dup = sock.dup()
        with self._lock:
            if self._closed:
                dup.close()
                return
            self._socks.append(dup)
            if self.fired:
                _shutdown(dup)

    def poll(self, now: float) -> None:
        reason = None
        if self.cancel is not None and self.cancel.is_set():
            reason = "cancelled"
        elif now >= self.deadline:
            reason = "timeout"
        if reason is None:
            return
        with self._lock:
            if self._closed or self.fired:
                return
            self.fired = reason
            for sock in self._socks:
                _shutdown(sock)

    def close(self) -> None:
        with self._lock:
            self._closed = True
            for sock in self._socks:
                sock.close()
            self._socks.clear()


def _shutdown(sock: socket.socket) -> None:
    with contextlib.suppress(OSError):  # already closed by the peer
        sock.shutdown(socket.SHUT_RDWR)


class _Watchdog:
    def __init__(self) -> None:
        self._watches: set[Watch] = set()
        self._cond = threading.Condition()
        self._thread: threading.Thread | None = None

    def add(self, watch: Watch) -> None:
        with self._cond:
            self._watches.add(watch)
            if self._thread is None:  # started once, on first use, under the lock
                self._thread = threading.Thread(target=self._run, name="fetch-watchdog", daemon=True)
                self._thread.start()
            self._cond.notify()

    def remove(self, watch: Watch) -> None:
        with self._cond:
            self._watches.discard(watch)

    def _run(self) -> None:
        while True:
            with self._cond:
                while not self._watches:
                    self._cond.wait()
                watches = list(self._watches)
            now = time.monotonic()
            for watch in watches:
                watch.poll(now)
            time.sleep(POLL_S)


_WATCHDOG = _Watchdog()


@contextmanager
def watched(seconds: float, cancel: threading.Event | None = None) -> Iterator[Watch]:
    """Watch a fetch for `seconds` (and `cancel`); attach its sockets to the yielded Watch."""
    watch = Watch(time.monotonic() + seconds, cancel)
    _WATCHDOG.add(watch)
    try:
        yield watch
    finally:
        _WATCHDOG.remove(watch)
        watch.close()
