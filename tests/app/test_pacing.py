"""Redraw pacing: columns redraw less often when many stream at once in one process."""

from __future__ import annotations

import threading

import pytest

from pages.common import pacing


def test_alone_a_column_redraws_at_the_base_rate() -> None:
    with pacing.streaming(2):
        assert pacing.interval() == pacing.BASE_S


def test_a_room_streaming_slows_each_column_down_to_the_cap() -> None:
    with pacing.streaming(pacing.FULL_RATE_COLUMNS * 2):
        assert pacing.interval() == pytest.approx(pacing.BASE_S * 2)
        with pacing.streaming(1000):
            assert pacing.interval() == pacing.MAX_S


def test_the_count_is_given_back_after_an_error_and_under_threads() -> None:
    before = pacing.active()
    with pytest.raises(RuntimeError), pacing.streaming(2):
        raise RuntimeError("stopped")
    barrier = threading.Barrier(16)

    def one() -> None:
        barrier.wait()
        for _ in range(200):
            with pacing.streaming(2):
                pass

    threads = [threading.Thread(target=one) for _ in range(16)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert pacing.active() == before


def test_the_app_turns_off_streamlits_full_collection_after_every_run() -> None:
    """A gc.collect(2) after every script run paused every session of a room (GIL held)."""
    import tomllib
    from pathlib import Path

    config = tomllib.loads((Path(__file__).resolve().parents[2] / ".streamlit" / "config.toml").read_text())
    assert config["runner"]["postScriptGC"] is False
