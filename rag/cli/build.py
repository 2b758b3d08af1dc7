"""`index`, `info` and `settings`: make an index file, describe one, print the settings table."""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import asdict
from typing import Any

from ..errors import InputError, RagError
from ..settings import settings_markdown
from .parser import settings_from


def _progress(event: Any) -> None:
    """One line on stderr per page fetched and per batch embedded."""
    from ..indexing import EmbedEvent, PageEvent

    if isinstance(event, PageEvent):
        r = event.result
        status = f"ok   ({len(r.documents)} chunks)" if r.ok else f"FAIL {r.error}"
        print(f"[{event.pages_done}] {r.url} {status}", file=sys.stderr, flush=True)
    elif isinstance(event, EmbedEvent):
        print(f"  embedded {event.chunks_done}/{event.chunks_seen} chunks", file=sys.stderr, flush=True)


def cmd_index(args: argparse.Namespace) -> int:
    from ..loading.loader import read_urls_file, to_url
    from ..pipeline import index_pages
    from ..retrieval import Retriever

    settings = settings_from(args)
    sources = list(args.urls) + (read_urls_file(args.urls_file) if args.urls_file else [])
    urls = [to_url(s) for s in sources]
    crawl = to_url(args.crawl) if args.crawl else None
    if not urls and not crawl:
        raise InputError("Nothing to index.", "Give URLs, --urls-file F, or --crawl URL.")
    store, report = index_pages(
        settings, urls=urls, crawl=crawl, max_pages=args.max_pages, on_event=None if args.quiet else _progress
    )
    saved = None
    if report.pages_ok:
        # what a search would build first, built now: the page outlines go into the file, so a
        # search that loads it does not embed them (rag/outlines.py); hub pages are counted by
        # whoever loads the file (rag/hub_pages.py: not saved), so not here
        Retriever(store, hub_page_weight=0.0).prepare()
        saved = str(store.save(args.save))
    if args.json:
        print(json.dumps(_index_summary(store, report, saved), indent=1))
    else:
        print(report.summary())
        for failure in report.failures:
            print(f"  failed: {failure.url}: {failure.message}")
        print(f"saved to {saved}" if saved else "nothing saved")
    if not report.pages_ok:
        raise RagError("No page could be indexed, so no index was written.", "See the reasons above.")
    return 0


def _index_summary(store: Any, report: Any, saved: str | None) -> dict[str, Any]:
    return {
        "pages_ok": report.pages_ok,
        "pages_failed": len(report.failures),
        "failures": [asdict(f) for f in report.failures],
        "chunks": report.chunks,
        "seconds": round(report.seconds, 2),
        "chunks_per_s": round(report.chunks_per_s, 1),
        "embedded": report.embedded,
        "embedder": store.info.embedder,
        "splitter": store.info.splitter,
        "saved": saved,
    }


def cmd_info(args: argparse.Namespace) -> int:
    from ..store import read_index

    info = read_index(args.index).info
    data = {**asdict(info), "page_count": info.page_count}
    if args.json:
        print(json.dumps(data, indent=1))
    else:
        print(f"{args.index}: {info.chunks} chunks from {info.page_count} pages")
        print(f"embedder {info.embedder} ({info.dims} dims), splitter {info.splitter or '?'}")
    return 0


def cmd_settings(args: argparse.Namespace) -> int:
    print(settings_markdown(), end="")
    return 0
