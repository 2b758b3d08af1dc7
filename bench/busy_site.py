"""A site that throttles: how many pages the loader keeps when a server answers a burst of
fetches with 429 Too Many Requests, with and without asking again after a pause.

    .venv/bin/python bench/busy_site.py [--corpus flask] [--per-second 10 3]

A manual's pages are served on loopback by tests/servers/site.py with `per_second` (10 and
3 by default, a run each): beyond that many requests within one second, the answer is 429
with `Retry-After: 1`, as sites behind a rate limiter answer. Every page is loaded by the
real loader (8 at a time, the default), once with `FetchConfig.busy_waits` at its default
(a busy answer is asked again after pauses of about 0.5, 1, 2 and 4 s, or the server's
Retry-After, within the page's deadline; a pause holds every fetch to that host) and once
with no second try, in the same run, beside the same pages from a server that does not
throttle, and from one that answers 503 to everything (a site down behind its proxy: after
16 busy answers in a row and no page, the loader stops pausing for that host). Pages and
their text only (no embedding): what reaches the index.
Results: bench/results/busy-site.json.
"""

from __future__ import annotations

import argparse
import time
from collections import Counter

from common import corpus, page_urls, write_result

from rag.loading.fetch import FetchConfig
from rag.loading.loader import WebLoader
from tests.servers.site import SiteServer


def load_all(urls: list[str], config: FetchConfig) -> dict[str, object]:
    started = time.perf_counter()
    results = list(WebLoader(config).load(urls))
    reasons = Counter(r.error.reason for r in results if r.error)
    return {
        "pages": len(urls),
        "ok": sum(1 for r in results if r.ok),
        "failed": dict(reasons),
        "seconds": round(time.perf_counter() - started, 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--corpus", default="flask")
    parser.add_argument("--per-second", type=int, nargs="+", default=[10, 3])
    args = parser.parse_args()
    c = corpus(args.corpus)
    rows: dict[str, dict] = {}
    with SiteServer(c.root) as site:  # the same pages from a server that does not throttle
        rows["unthrottled"] = load_all(page_urls(site.url, c), FetchConfig())
    print("unthrottled", rows["unthrottled"], flush=True)
    servers = [(f"{rate}/s", {"per_second": rate}) for rate in args.per_second]
    servers.append(("down", {"down": True}))  # 503 for every page: down, not throttling
    for server, limits in servers:
        for label, config in (("no second try", FetchConfig(busy_waits=())), ("default", FetchConfig())):
            with SiteServer(c.root, **limits) as site:
                row = load_all(page_urls(site.url, c), config)
                rows[f"{server}, {label}"] = {**row, "requests": len(site.hits)}
            print(f"{server}, {label}", row, flush=True)
    print(write_result("busy-site", {"corpus": c.name, "rows": rows}))


if __name__ == "__main__":
    main()
