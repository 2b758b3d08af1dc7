"""Pages named like release notes ("changes", "news", "history", "releases") on every manual,
with the verdict of the rule before issue 12's thirty-sixth round (such a page titled by that
word alone was release notes) and since (it must also print a version or a year:
rag/release_notes.py's `dated`). No index is needed: each page is read from the Debian
package with the app's own extractor, so this runs on a fresh machine in seconds.

    .venv/bin/python bench/release_names.py [--corpora cmd2 pytest ...]

A page whose verdict differs between the two rules is the only place the change can move a
ranking (release notes are found by path, title or headings otherwise, unchanged). Results:
bench/results/release-names.json.
"""

from __future__ import annotations

import argparse
import warnings

from common import CORPORA, available, corpus, page_paths, write_result

from rag.loading.extract import extract_html
from rag.release_notes import RELEASE_NOTES_NAME, by_headings, is_release_notes


def named_pages(name: str) -> list[dict]:
    """The manual's pages named like release notes, with both rules' verdicts."""
    c = corpus(name)  # a manual its package did not install: a sentence, not a measurement
    found = []
    for path in page_paths(c):
        if not RELEASE_NOTES_NAME.search(path):
            continue
        with warnings.catch_warnings():  # XHTML pages parse right as HTML
            warnings.simplefilter("ignore")
            page = extract_html((c.root / path).read_bytes(), f"http://manual/{path}")
        title = page.title or ""
        headings = [section.heading for section in page.sections]
        texts = [section.text for section in page.sections]
        by_heads = by_headings(headings, title)
        before = is_release_notes(path, title) or by_heads
        after = is_release_notes(path, title, texts) or by_heads
        found.append({"page": path, "title": title, "before": before, "after": after})
    return found


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--corpora", nargs="+", help="manuals (default: every one installed)")
    args = parser.parse_args()
    if args.corpora is None:
        args.corpora = [n for n in CORPORA if available(CORPORA[n])]
        if left := [n for n in CORPORA if n not in args.corpora]:
            print("not measured (its Debian package is not installed):", " ".join(left))
    manuals = {name: named_pages(name) for name in args.corpora}
    changed = [
        f"{name}: {p['page']}" for name, pages in manuals.items() for p in pages if p["before"] != p["after"]
    ]
    for line in changed:
        print("changed:", line)
    named = sum(map(len, manuals.values()))
    print(f"{len(args.corpora)} manuals, {named} pages so named, {len(changed)} changed")
    path = write_result("release-names", {"manuals": manuals, "changed": changed})
    print(f"written to {path}")


if __name__ == "__main__":
    main()
