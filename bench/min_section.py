"""Ours with the `sections` splitter folding sections shorter than another size into the next
(`get_splitter("sections", min_section=N)`, given to `index_pages`; the default folds those
under 250 characters).

    .venv/bin/python bench/min_section.py --size 500 [--corpus nose2 beets ...] [--intro]

With `--intro` only a section's introduction is folded, into its own first subsection
(`min_intro=N`; sections under 250 characters are folded as by default): results in
bench/results/min-intro-<N>.json.

Each manual is indexed again from its served pages (the vector cache makes unchanged chunks
free; nothing is saved to bench/.cache), ranked by `Retriever(store)` with its defaults as
bench/retrieval.py ranks ours. Results: bench/results/min-section-<N>.json (single-turn R@4,
MRR, follow-up R@4 and every question's rank); a run on some manuals keeps the others' rows.
`--compare` sets each manual beside the `ours` row of bench/results/retrieval-<manual>.json.
"""

from __future__ import annotations

import argparse
import json

from common import CORPORA, RESULTS, corpus, load_cache, page_urls, questions_of, serve, write_result
from retrieval import EMBEDDER, CachedEmbeddings, LocalEmbeddings, ours_scores

from rag.embeddings.base import EmbedderSpec
from rag.evaluation import KS
from rag.pipeline import index_pages
from rag.settings import Settings
from rag.splitting import get_splitter


def rank_manual(name: str, size: int, local: LocalEmbeddings, cache, kind: str = "min_section") -> dict:
    """One manual indexed with sections under `size` characters folded (with `kind="min_intro"`,
    only introductions into their own first subsection), ranked as ours."""
    c = corpus(name)
    with serve(c) as site:
        store, _ = index_pages(
            Settings(),
            urls=page_urls(site.url, c),
            embeddings=(CachedEmbeddings(local, EMBEDDER, cache), EmbedderSpec("local", "all-MiniLM-L6-v2")),
            splitter=("sections", get_splitter("sections", **{kind: size})),
        )
    scored = ours_scores(store, questions_of(c), max(KS))
    groups = scored["groups"]
    return {
        "chunks": len(store),
        "r4": groups["single"]["recall@4"],
        "mrr": round(groups["single"]["mrr"], 4),
        "fu": groups.get("followup", {}).get("recall@4"),
        "ranks": {q["id"]: q["rank"] for q in scored["questions"]},
    }


def compare(size: int, stem: str = "min-section") -> None:
    """Each manual measured at `size` beside ours' saved row and both baselines'."""
    manuals = json.loads((RESULTS / f"{stem}-{size}.json").read_text())["manuals"]
    for name, row in manuals.items():
        saved = json.loads((RESULTS / f"retrieval-{name}.json").read_text())["results"]
        ours = saved["ours"]["groups"]
        before = {q["id"]: q["rank"] for q in saved["ours"]["questions"]}
        crossed = [(i, before.get(i), r) for i, r in row["ranks"].items() if _hit(before.get(i)) != _hit(r)]
        print(
            f"{name}: R@4 {ours['single']['recall@4']:.3f} -> {row['r4']:.3f}, MRR "
            f"{ours['single']['mrr']:.3f} -> {row['mrr']:.3f}, follow-ups "
            f"{ours.get('followup', {}).get('recall@4')} -> {row['fu']}; baselines "
            f"{saved['notebook']['groups']['single']['recall@4']:.3f} / "
            f"{saved['notebook+RRF']['groups']['single']['recall@4']:.3f}; crossing rank 4: {crossed}"
        )


def _hit(rank: int | None) -> bool:
    return rank is not None and rank <= 4


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=500)
    parser.add_argument("--corpus", nargs="+", default=[n for n in CORPORA if n != "djangowhole"])
    parser.add_argument("--compare", action="store_true", help="set the results beside ours' saved rows")
    parser.add_argument("--intro", action="store_true", help="fold only intros of subsections up to --size")
    args = parser.parse_args()
    kind, stem = ("min_intro", "min-intro") if args.intro else ("min_section", "min-section")
    if args.compare:
        compare(args.size, stem)
        return
    path = RESULTS / f"{stem}-{args.size}.json"
    kept = json.loads(path.read_text()) if path.exists() else {}  # its note, if any, stays
    manuals = kept.get("manuals", {})
    local, cache = LocalEmbeddings(), load_cache(EMBEDDER)
    for name in args.corpus:
        manuals[name] = rank_manual(name, args.size, local, cache, kind)
        row = manuals[name]
        print(name, args.size, row["chunks"], row["r4"], row["mrr"], row["fu"], flush=True)
        extra = {"note": kept["note"]} if "note" in kept else {}
        write_result(f"{stem}-{args.size}", {"size": args.size, **extra, "manuals": manuals})


if __name__ == "__main__":
    main()
