"""Every installed HTML manual page through the loader, as `python -m rag index` reads it.

    .venv/bin/python bench/loader_sweep.py [--root /usr/share/doc]

Each *.html / *.htm file under the root is loaded by `WebLoader.load_one` from its file://
URL (the same fetch, decoding and extraction as a page served over HTTP) and counted by
outcome: indexed, or the loader's reason for not indexing it (a redirect stub, only a list
of links, no text, binary, ...). `parse-error` is a loader defect: the page would fail as
"could not be read". Written to bench/results/loader-sweep.json with a few pages of each
outcome; no network.
"""

from __future__ import annotations

import argparse
import warnings
from collections import Counter, defaultdict
from pathlib import Path

from common import write_result

from rag.loading.fetch import FetchConfig
from rag.loading.loader import WebLoader

SAMPLES = 10


def outcome(loader: WebLoader, path: Path) -> str:
    """What the loader makes of one page: "indexed", or its reason for not indexing it."""
    result = loader.load_one(path.as_uri())
    return "indexed" if result.error is None else result.error.reason


def sweep(root: Path) -> dict:
    counts: Counter[str] = Counter()
    samples: dict[str, list[str]] = defaultdict(list)
    pages = sorted(p for p in root.rglob("*") if p.suffix in (".html", ".htm") and p.is_file())
    loader = WebLoader(FetchConfig())
    for path in pages:
        found = outcome(loader, path)
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
