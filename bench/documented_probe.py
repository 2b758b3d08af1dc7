"""A source listing behind the page that documents its module (issue 12, forty-second round).

    .venv/bin/python bench/documented_probe.py [--corpora tooz amqp ...] [--weights 1 2 ...]

Sphinx's viewcode writes each module's source as a listing (`_modules/amqp/channel.html`)
beside the API page its docstrings are documented on (`reference/amqp.channel.html`, whose
anchors name `amqp.channel.Channel...`). A question about the module often finds both, and the
two take two of the first four places with much the same words. On each manual's saved
`ours` index (bench/retrieval.py, run it first) that holds such listings, the manual's
questions scored as the benchmark scores them, in the same run, with:
- `default`: the retriever as it is (every listing weighed down by LISTING_PENALTY);
- `after`: a listing ranked below a page that documents its module comes after every page
  that does not step back;
- `extra-X`: such a listing's score less X more.
A listing that ranks above every page documenting its module keeps its place (there the code
is what the question asks about). A listing's module is its path below `_modules/`; a page
documents it where one of its anchors is `module-<module>`, the module or a name in it (not for
a package whose submodules have listings of their own, whose every name would match).
Each manual's setting is chosen on the *other* manuals by the default's rule
(bench/retrieval_variants.py). Manuals without a saved index, without such listings or small
enough to be fused by rank are skipped. Results: bench/results/documented-probe.json; a run on
some manuals keeps the others' rows.
"""

from __future__ import annotations

import re
from urllib.parse import urlsplit

from probe_grid import moved_back, prepared, ranked_row, sharing, weights_main
from retrieval_variants import MemoEmbeddings

from rag.retrieval import Retriever, StepBack
from rag.store import SKLearnStore, page_of

EXTRAS = (0.0, 1.0, 2.0)  # 0: `after`
_LISTED = re.compile(r"/_modules/(.+)\.html$")


def listing_modules(store: SKLearnStore) -> dict[str, str]:
    """Each listing page's URL (no fragment) and its module; packages with listed submodules left out."""
    found = {}
    for row, doc in enumerate(store.documents):
        url = page_of(doc, row)
        m = _LISTED.search(urlsplit(url).path)
        if m and m.group(1) != "index":
            found[url] = m.group(1).replace("/", ".").removesuffix(".__init__")
    modules = set(found.values())
    return {u: mod for u, mod in found.items() if not any(o.startswith(mod + ".") for o in modules)}


def documenting_pages(store: SKLearnStore, modules: set[str]) -> dict[str, set[str]]:
    """Each module and the pages (URLs, not listings) with an anchor that names it or a name in it."""
    out: dict[str, set[str]] = {m: set() for m in modules}
    for row, doc in enumerate(store.documents):
        anchor = doc.metadata.get("source", "").partition("#")[2]
        page = page_of(doc, row)
        if not anchor or _LISTED.search(urlsplit(page).path):
            continue
        name = anchor.removeprefix("module-")
        for mod in modules:
            if name == mod or name.startswith(mod + "."):
                out[mod].add(page)
    return out


class Documented(Retriever):
    """The default, with a listing ranked below a page documenting its module moved back."""

    def __init__(
        self, store: SKLearnStore, extra: float, listed: dict[str, str], documented: dict[str, set[str]]
    ) -> None:
        super().__init__(store)
        self.extra, self.listed, self.documented = extra, listed, documented

    def _ordered(self, fused: dict[int, float], back: StepBack) -> list[tuple[int, float]]:
        ranked = super()._ordered(fused, back)
        seen: set[str] = set()
        behind: set[int] = set()
        for row, _ in ranked:
            page = page_of(self.store.documents[row], row)
            module = self.listed.get(page)
            if module is not None and self.documented.get(module, set()) & seen:
                behind.add(row)
            seen.add(page)
        return moved_back(ranked, behind, self.extra) if behind else ranked


def documented_rows(name: str, embeddings: MemoEmbeddings, extras: list[float]) -> dict[str, dict]:
    """The manual's row as the default has it and with each setting, with the questions that
    rank otherwise than the default."""
    found = prepared(name, embeddings)
    if found is None:
        return {}
    store, first = found
    listed = listing_modules(store)
    documented = documenting_pages(store, set(listed.values()))
    pairs = sum(bool(pages) for pages in documented.values())
    if not pairs:
        return {}
    row, base = ranked_row(first, name)
    extra = {"listings": len(listed), "documented": pairs}
    rows = {"default": {**row, **extra, "moved": {}}}
    for x in extras:
        row, ranks = ranked_row(sharing(Documented(store, x, listed, documented), first), name)
        moved = {q: r for q, r in ranks.items() if r != base[q]}
        rows["after" if not x else f"extra-{x:g}"] = {**row, **extra, "moved": moved}
    return rows


def main() -> None:
    weights_main("documented-probe", documented_rows, weights=EXTRAS)


if __name__ == "__main__":
    main()
