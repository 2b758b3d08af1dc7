"""Hostile pages: how long the loader spends on each, against its bounds (issue 11, items 5-7).

    nice -n 10 .venv/bin/python bench/hostile_fetch.py

A hostile server on loopback (tests/servers/hostile.py) drips a body, drips its
headers, serves a page nested 100,000 levels deep, 50,000 × 5 unclosed tags and
1 MB of random bytes labelled text/html. Each is fetched through the real loader
with RAG_FETCH_TIMEOUT = 5 s, as the issue measured it. A stop (the cancel event
the Index page and the CLI's Ctrl-C set) is timed from the moment it is set to
the moment the fetch returns.
Extraction is also timed on flat link pages of growing size, to show it grows
linearly. Floors: a drip ends within timeout + 2 s, a stop within 1 s, the deep
page is extracted or refused within 5 s. About half a minute.
"""

from __future__ import annotations

import threading
import time

from common import machine, write_result

from rag.errors import FetchError
from rag.loading.extract import extract_html
from rag.loading.fetch import FetchConfig, Fetcher
from rag.loading.loader import WebLoader
from tests.servers.hostile import HostileServer

TIMEOUT = 5.0


def timed_load(url: str, timeout: float = TIMEOUT) -> dict[str, object]:
    started = time.perf_counter()
    result = WebLoader(FetchConfig(timeout=timeout)).load_one(url)
    return {
        "seconds": round(time.perf_counter() - started, 2),
        "reason": result.error.reason if result.error else "ok",
    }


STOP_SET = [0.0]  # when the last stop was set (perf_counter)


def _stop_at(cancel: threading.Event) -> None:
    STOP_SET[0] = time.perf_counter()
    cancel.set()


def stop_case(url: str) -> dict[str, object]:
    """A fetch stopped 1 s in: how long after the stop the fetch itself returned."""
    cancel = threading.Event()
    threading.Timer(1.0, _stop_at, (cancel,)).start()
    try:
        Fetcher(FetchConfig(timeout=60)).get(url, cancel=cancel)
        outcome = "finished"
    except FetchError as error:
        outcome = error.reason
    return {"after_stop_s": round(time.perf_counter() - STOP_SET[0], 3), "outcome": outcome}


def linear_extraction() -> list[dict[str, float]]:
    rows = []
    for n in (2_500, 5_000, 10_000):
        links = "".join(f'<li><a href="/p{i}">page {i}</a> and some words {i}</li>' for i in range(n))
        html = f"<html><body><h1>Index</h1><ul>{links}</ul></body></html>".encode()
        started = time.perf_counter()
        extract_html(html, "http://bench/")
        rows.append(
            {"links": n, "mb": round(len(html) / 1e6, 2), "seconds": round(time.perf_counter() - started, 2)}
        )
    return rows


def main() -> None:
    with HostileServer() as server:
        drips = {
            "body": timed_load(f"{server.url}/drip-body?interval=1"),
            "headers": timed_load(f"{server.url}/drip-headers?interval=1"),
        }
        stops = {
            "body": stop_case(f"{server.url}/drip-body?interval=0.2"),
            "headers": stop_case(f"{server.url}/drip-headers?interval=0.2"),
        }
        pages = {
            "deep-100k": timed_load(f"{server.url}/deep?n=100000"),
            "unclosed-50kx5": timed_load(f"{server.url}/unclosed?n=50000"),
            "random-1mb-html": timed_load(f"{server.url}/random?type=text/html"),
            "random-1mb-plain": timed_load(f"{server.url}/random?type=text/plain"),
            "utf16-no-label": timed_load(f"{server.url}/utf16"),
        }
    linear = linear_extraction()
    floors = {
        "drip_within_timeout_plus_2s": all(d["seconds"] <= TIMEOUT + 2 for d in drips.values()),
        "stop_within_1s": all(s["after_stop_s"] <= 1.0 for s in stops.values()),
        "deep_within_5s": pages["deep-100k"]["seconds"] <= 5.0 and pages["unclosed-50kx5"]["seconds"] <= 5.0,
    }
    data = {
        "machine": machine(),
        "timeout_s": TIMEOUT,
        "drips": drips,
        "stops": stops,
        "pages": pages,
        "linear_extraction": linear,
        "floors": floors,
    }
    path = write_result("hostile", data)
    for name, value in data.items():
        if name != "machine":
            print(f"{name}: {value}")
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
