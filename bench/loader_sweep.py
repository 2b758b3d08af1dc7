"""Every installed HTML manual page through the loader's decoding and extraction.

    .venv/bin/python bench/loader_sweep.py [--root /usr/share/doc]

Each *.html / *.htm file under the root is decoded as the fetcher decodes a body with no
declared charset and extracted as the loader extracts it, and counted by outcome: indexed,
a redirect stub, only a list of links, no text, a refusal by the fetcher's rules (its
reason), or an exception (a loader defect: the page would fail as "could not be read").
Written to bench/results/loader-sweep.json with a few pages of each outcome; no network.
"""

from __future__ import annotations

import argparse
import warnings
from collections import Counter, defaultdict
from pathlib import Path

from common import write_result

from rag.errors import FetchError
from rag.loading.extract import extract_html
from rag.loading.fetch import decode
from rag.loading.loader import page_documents

SAMPLES = 10


def outcome(path: Path) -> str:
    """What the loader makes of one page."""
    try:
        text = decode(str(path), path.read_bytes(), None, "text/html")
        page = extract_html(text, f"http://127.0.0.1/{path.name}")
    except FetchError as exc:
        return exc.reason
    except Exception as exc:  # an exception here is what the sweep looks for
        return f"exception: {type(exc).__name__}"
    if page.links_only:
        return "links-only"
    if page.redirect and not page.sections:
        return "redirect"
    return "indexed" if page_documents(page) else "empty"


def sweep(root: Path) -> dict:
    counts: Counter[str] = Counter()
    samples: dict[str, list[str]] = defaultdict(list)
    pages = sorted(p for p in root.rglob("*") if p.suffix in (".html", ".htm") and p.is_file())
    for path in pages:
        found = outcome(path)
        counts[found] += 1
        if found != "indexed" and len(samples[found]) < SAMPLES:
            samples[found].append(str(path))
    return {"root": str(root), "pages": len(pages), "outcomes": dict(counts), "samples": samples}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--root", type=Path, default=Path("/usr/share/doc"))
    args = parser.parse_args()
    warnings.simplefilter("ignore")  # bs4's XML-as-HTML notes, one per XHTML page
    data = sweep(args.root)
    print(data["pages"], "pages:", data["outcomes"], flush=True)
    print("written to", write_result("loader-sweep", data))


if __name__ == "__main__":
    main()
