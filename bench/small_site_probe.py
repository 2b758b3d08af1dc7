"""Where a site counts as small, chosen leave-one-manual-out (issue 12, nineteenth round).

    .venv/bin/python bench/small_site_probe.py [--corpora jinja2 bind9 ...] [--limits 0 20 30 ...]

A site of fewer than `small_site` pages (rag/retrieval.py `SMALL_SITE`) is searched chunk by
chunk, fused by reciprocal rank with no per-page cap and BM25 over the chunks; a larger one
page by page, by standardised scores, one chunk a page, BM25 over passages, hub pages and
(for follow-ups) outlines. The limit was set from the bundled seven-page guide, before any
manual under it was measured. On each manual of fewer than MAX_PAGES pages (its saved `ours`
index: run bench/retrieval.py first) both ways are scored, and each limit's row is the way
that limit gives the manual; each manual's limit is chosen on the *other* manuals by the rule
the default is chosen by (bench/retrieval_variants.py). Manuals of MAX_PAGES pages or more
are searched the same way at every limit measured and are not scored.

Page recall is not all a small site's way is for: it returns a page's second chunk where that
scores higher than another page's best, and the chat's model reads those k = 4 chunks. So each
way is also scored on what the model would read (bench/reads.py's `reads` of the retriever's
`passages`, as the chat reads: the share of a question's answer keys the first four chunks
state); with `--guide FOLDER` the bundled seven-page guide both ways too (no baselines there).
Results:
bench/results/small-site-probe.json; a run on some manuals keeps the others' rows.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from common import CACHE, CORPORA, RESULTS, corpus, questions_of, summary_row, write_result
from probe_grid import run, scored
from reads import GUIDE, UNCAPPED, reads
from retrieval_probes import default_search
from retrieval_variants import EMBEDDER, MemoEmbeddings
from shared_index import sample_index_file

from rag.embeddings.local import LocalEmbeddings
from rag.evaluation import evaluate, load_questions
from rag.retrieval import Retriever, history_query
from rag.store import SKLearnStore, pages_of

MAX_PAGES = 60
LIMITS = (0, 5, 10, 20, 30, 45, 60)


def both_ways(name: str, embeddings: MemoEmbeddings) -> tuple[int, dict, dict] | None:
    """The manual's page count and its rows searched as a small site and as a large one;
    None for a manual of MAX_PAGES pages or more, or with no saved index."""
    path = CACHE / f"{name}-ours.ragidx"
    if not path.exists():
        print(name, "has no saved index: run bench/retrieval.py --corpus", name, flush=True)
        return None
    store = SKLearnStore.load(path, embeddings, EMBEDDER)
    pages = len(pages_of(store.documents))
    if pages >= MAX_PAGES:
        return None
    small, large = Retriever(store, small_site=UNCAPPED), Retriever(store, small_site=0)
    rows = []
    for retriever in (small, large):
        retriever.prepare()
        rows.append(scored(retriever, name) | reads(retriever, questions_of(corpus(name)), passages=True))
    return pages, rows[0], rows[1]


def limit_rows(name: str, embeddings: MemoEmbeddings, limits: list[int]) -> dict[str, dict]:
    found = both_ways(name, embeddings)
    if found is None:
        return {}
    pages, small, large = found
    return {f"small-under-{limit}": dict(small if pages < limit else large) for limit in limits}


def guide_ways(folder: Path, embeddings: MemoEmbeddings) -> dict[str, dict]:
    """The bundled guide (indexed into `folder`; no baselines) both ways: ranking and reads."""
    store = SKLearnStore.load(sample_index_file(folder), embeddings, EMBEDDER)
    questions = load_questions(GUIDE)
    out = {}
    for way, limit in (("small site's", UNCAPPED), ("large", 0)):
        retriever = Retriever(store, small_site=limit)
        retriever.prepare()
        search = default_search(retriever)
        report = evaluate(questions, lambda q, search=search: search(history_query(q.question, q.history), q))
        out[way] = summary_row(report) | reads(retriever, questions, passages=True)
    return out


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--corpora", nargs="*", default=list(CORPORA))
    parser.add_argument("--limits", nargs="*", type=int, default=list(LIMITS))
    parser.add_argument("--guide", metavar="FOLDER", help="index the bundled guide into FOLDER, score it too")
    args = parser.parse_args()
    embeddings = MemoEmbeddings(LocalEmbeddings())
    run("small-site-probe", args.corpora, lambda manual: limit_rows(manual, embeddings, args.limits))
    if args.guide:
        saved = json.loads((RESULTS / "small-site-probe.json").read_text())
        write_result("small-site-probe", {**saved, "guide": guide_ways(Path(args.guide), embeddings)})


if __name__ == "__main__":
    main()
