"""What the model reads: the answer keys the first four chunks state (issue 12, nineteenth round).

    .venv/bin/python bench/reads.py [--corpora click xapian ...] [--guide FOLDER]

bench/retrieval.py scores where the page that answers ranks: the sources a reader is shown.
The chat's model read the first k = 4 chunks, and one chunk a page (the default on sites of
5 pages or more; 20 before the twentieth round) gives it four pages' best chunks,
where the answer's other half may sit in the first page's next chunk. So each way of
choosing the four is scored here on what they state: the mean share of an answerable
question's keys (rag/compare.py's `keys_stated`, as an answer is scored) found in the four
chunks' text, how often they state every key, the text's mean length in characters (the
prompt the model reads) and how often a gold page is among the chunks' pages. Ways, on each
manual's saved indexes (run bench/retrieval.py first): the notebook's (its own chunks,
vector search) and its chunks with BM25 by RRF where the notebook's index was saved; ours as
`search` ranks them (the sources); ours as `passages` chooses them (the best chunks of
`search`'s first four pages: what the chat reads since this round); ours with two chunks a
page; ours fused chunk by chunk as a small site is (no cap). For `ours` and `ours,
passages`, also the offline demo's answers (`answered`: the embedded model's chain, which
quotes what it reads). With `--guide FOLDER` the bundled guide too (indexed into FOLDER).
Results: bench/results/reads.json; a run on some manuals keeps the others' rows, and a manual's
baseline rows when its notebook index is not saved (they do not depend on our default).
"""

from __future__ import annotations

import argparse
import json
from functools import cache
from pathlib import Path
from typing import Any

from common import CACHE, CORPORA, RESULTS, ROOT, corpus, questions_of, write_result
from retrieval import plain_rrf
from retrieval_variants import EMBEDDER, MemoEmbeddings
from shared_index import sample_index_file

from rag.chains import RagChain
from rag.compare import keys_stated
from rag.embeddings.local import LocalEmbeddings
from rag.evaluation import Question, is_gold, load_questions, site_root
from rag.llms import Target, make_target
from rag.retrieval import Retriever, history_query
from rag.settings import Settings
from rag.store import SKLearnStore

K = 4
UNCAPPED = 10**9  # every site small: chunks fused by rank, no per-page cap
OURS: dict[str, dict[str, Any]] = {
    "ours": {},
    "ours, passages": {},  # Retriever.passages: what the chat reads since the nineteenth round
    "ours, two chunks a page": {"per_page": 2},
    "ours, chunk by chunk": {"small_site": UNCAPPED},
}
GUIDE = ROOT / "rag" / "data" / "sample-guide-qa.jsonl"


def reads(
    retriever: Retriever, questions: list[Question], follow_ups: bool = True, passages: bool = False
) -> dict[str, float]:
    """The mean share of each answerable question's keys its first K chunks state, the share
    of questions whose keys they state all, their text's mean length, and how often a gold
    page is among the chunks' pages (`gold@4`: the pages the chat would cite). `follow_ups`: weigh
    a follow-up's bare question as the default does (the baselines search the joined text);
    `passages`: the retriever's `passages` (what the chat reads), not its `search`."""
    find = retriever.passages if passages else retriever.search
    shares, whole, chars, cited = [], 0, 0, 0
    root = site_root(d.metadata.get("source", "") for d in retriever.store.documents)
    for q in questions:
        if not (q.answer_keys and q.gold):
            continue
        bare = q.question if q.history and follow_ups else None
        hits = find(history_query(q.question, q.history), K, question=bare)
        text = " ".join(h.document.page_content for h in hits)
        cited += any(is_gold(h.document.metadata.get("source", ""), q.gold, root) for h in hits)
        stated = keys_stated(text, q.answer_keys)
        shares.append(sum(stated) / len(stated))
        whole += all(stated)
        chars += len(text)
    n = len(shares)
    return {
        "keys@4": round(sum(shares) / n, 4),
        "all keys@4": round(whole / n, 4),
        "chars": round(chars / n),
        "gold@4": round(cited / n, 4),
    }


def answered(chain: RagChain, questions: list[Question]) -> dict[str, float]:
    """The offline demo's answers (the embedded model's chain quotes the best two sentences of
    what it reads, rag/evidence.py; no text is generated): the mean share of each answerable
    question's keys the answer states, and how often it states them all."""
    shares, whole = [], 0
    for q in questions:
        if not (q.answer_keys and q.gold):
            continue
        stated = keys_stated(chain.invoke(q.question, q.history).text, q.answer_keys)
        shares.append(sum(stated) / len(stated))
        whole += all(stated)
    return {
        "answer keys": round(sum(shares) / len(shares), 4),
        "answer all keys": round(whole / len(shares), 4),
    }


def ways(name: str, embeddings: MemoEmbeddings) -> dict[str, dict[str, float]]:
    """`reads` of each way on the manual's saved indexes."""
    questions = questions_of(corpus(name))
    out: dict[str, dict[str, float]] = {}
    notebook = CACHE / f"{name}-notebook.ragidx"
    if notebook.exists():
        store = SKLearnStore.load(notebook, embeddings, EMBEDDER)
        plain = Retriever(store, mode="vector", per_page=None, dedupe=False, plain=True)
        out["notebook"] = reads(plain, questions, follow_ups=False)
        out["notebook+RRF"] = reads(plain_rrf(store), questions, follow_ups=False)
    out |= ours_ways(SKLearnStore.load(CACHE / f"{name}-ours.ragidx", embeddings, EMBEDDER), questions)
    return out


def ours_ways(store: SKLearnStore, questions: list[Question]) -> dict[str, dict[str, float]]:
    """`reads` of our ways; for `ours` and `ours, passages` also the offline demo's answers."""
    out = {}
    for way, settings in OURS.items():
        retriever = Retriever(store, **settings)
        retriever.prepare()
        read = way == "ours, passages"
        out[way] = reads(retriever, questions, passages=read)
        if way in ("ours", "ours, passages"):
            out[way] |= answered(RagChain(embedded(), retriever, passages=read), questions)
    return out


@cache
def embedded() -> Target:
    """The embedded model's target, loaded once (quoting answers asks nothing of it)."""
    return make_target("embedded", Settings())


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--corpora", nargs="*", default=list(CORPORA))
    parser.add_argument(
        "--guide", metavar="FOLDER", help="index the bundled guide into FOLDER and read it too"
    )
    args = parser.parse_args()
    embeddings = MemoEmbeddings(LocalEmbeddings())
    saved = RESULTS / "reads.json"
    rows: dict[str, dict] = json.loads(saved.read_text())["manuals"] if saved.exists() else {}
    for name in args.corpora:
        if (CACHE / f"{name}-ours.ragidx").exists():
            rows[name] = rows.get(name, {}) | ways(name, embeddings)
            print(name, rows[name], flush=True)
    if args.guide:
        store = SKLearnStore.load(sample_index_file(Path(args.guide)), embeddings, EMBEDDER)
        rows["guide"] = ours_ways(store, load_questions(GUIDE))
    write_result("reads", {"k": K, "manuals": {m: rows[m] for m in [*CORPORA, "guide"] if m in rows}})


if __name__ == "__main__":
    main()
