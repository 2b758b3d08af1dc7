"""Ideas measured beside the default ranking, none of them in the app.

    .venv/bin/python bench/retrieval_probes.py [--corpora git sqlite ...] [--probes sentences prf]

On each manual's saved indexes (bench/retrieval.py's `ours` and `notebook`, so run that
first) it scores the default retriever and, in the same run, each probe: single-turn
R@1/4/10 and MRR and follow-up R@4 by gold page, as bench/retrieval.py does. A run on
some manuals replaces their rows in bench/results/retrieval-probes.json and keeps the others'.

- `sentences`: each sentence of a question of two or more (a symptom, then the ask) as a
  further vector query in the fusion, the sentences sharing half a list's weight.
- `prf`: pseudo-relevance feedback: the query's vector moved towards the mean of the first
  search's best three chunks, searched again as a further list at half weight.
- `both-chunkings`: the notebook's 800/100 chunks fused with ours, page by page (the
  notebook's vector and BM25 lists at half weight beside our three).
- `listings-in-place`: Sphinx's highlighted source pages (`/_modules/`) ranked where their
  match puts them, not after every other page as the default does (rag/retrieval.py).
- `release-notes-in-place`: release notes and changelogs ranked where their match puts
  them, not after every other page as the default does.
- `wordllama`: WordLlama's static vectors (`pip install wordllama`, its weights are in the
  wheel) as a fourth list at a quarter weight; skipped when it is not installed.
- `question-too-0.5`, `question-too-1`: a follow-up's bare question searched too, its own
  lists fused beside the default's (history, then question) at half or full weight;
  single-turn questions are searched as by the default.
- `user-turn`: a follow-up searched with the user's previous turn and the question, without
  the answer between them.
- `csls-0.5`, `csls-1`: hubness by local scaling (CSLS, Lample et al. 2018): the vector list
  ranked by similarity minus a share of each chunk's mean similarity to its 10 nearest
  chunks of *other* pages, so a chunk near everything (a usage dump listing every option,
  a changelog) steps back; computed once from the index.
- `rank-fusion`: the lists fused by reciprocal rank (RRF, k = 20), as the default did until
  issue 12's tenth round; the rows of the other probes measured before it compare with this
  row, not with `default` (docs/decisions.md).
- `score-fusion-equal`: the default's fusion by scores with BM25 and the page list at full
  weight, not 0.5 and 0.25.
- `score-bm25-0.25`, `score-bm25-0.75`, `score-page-0.5`, `score-page-0`: the default's
  fusion by scores with one weight moved (BM25 at 0.25 or 0.75, the page centroid at 0.5
  or 0).
- `question-weight-0`: a follow-up searched as its last exchange and the question only,
  the bare question's own vector evidence not fused in (the default until issue 12's
  twelfth round); rows of other probes measured before then compare with this row in
  R@4 and MRR (their follow-up column counts the manuals' own sets, 8 a manual). The
  other probes search follow-ups without the bare question, as the default did then.
- `question-weight-0.5`, `question-weight-2`: the bare question's vector evidence at half
  or twice the default's weight (QUESTION_WEIGHT, 1).
- `answer-then-question`: a follow-up searched as the previous answer and the question,
  without the user's previous turn, the bare question weighed as by the default.
- `declarative`: the question's asking words ("How do I", "Is there a way to", "Why does")
  dropped before it is searched, so it reads like the manual's statements rather than like
  an FAQ's questions (a follow-up's bare question alike).
- `length-fair-0.5`, `length-fair-1`: each page's best vector similarity less a share of
  σ·√(2 ln n), the expected best of n random chunks, for a page of n chunks (σ: the spread
  of the query's similarities over the manual): a long page's best chunk is the best of
  more chances.
"""

from __future__ import annotations

import argparse
import json
import re
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import numpy as np
from common import CACHE, CORPORA, RESULTS, corpus, questions_of, summary_row, write_result
from retrieval_variants import EMBEDDER, MemoEmbeddings

from rag.embeddings.local import LocalEmbeddings
from rag.evaluation import evaluate
from rag.retrieval import LEXICAL_WEIGHT, PAGE_WEIGHT, Fusion, Retriever, history_query
from rag.store import SKLearnStore

Search = Callable[[str, Any], list[str]]  # (the text searched, the question: rag.evaluation)
SENTENCE = re.compile(r"(?<=[.?!])\s+")
ASKING = re.compile(
    r"(?:^|(?<=[.!?]\s))\s*(?:(?:so|and|but|then|also|now|ok|okay|well),?\s+)?"
    r"(?:how (?:do|can|should|would) (?:i|we|you)|how to"
    r"|is there (?:a|any) (?:way|setting|option|command|tool|hook|function|file)"
    r"(?: (?:to|that|for|i can use to|i can))?"
    r"|can (?:i|we|you)|what (?:do|should|can) (?:i|we) (?:do|use|type|pass|set|put)(?: to)?"
    r"|where (?:do|should|can) (?:i|we)|which \w+ (?:do|should) (?:i|we)"
    r"|why (?:does|do|is|are|did|doesn't|don't|isn't|won't)|what (?:is|are|does)|does|do|is|are)\b\s*",
    re.I,
)
DEPTH = 40


def sources(hits) -> list[str]:
    return [h.document.metadata["source"] for h in hits]


def unit(vector: np.ndarray) -> np.ndarray:
    norm = float(np.linalg.norm(vector))
    return (vector / norm if norm else vector).astype(np.float32)


def default_search(r: Retriever) -> Search:
    """The default: a follow-up's bare question weighed beside its history (QUESTION_WEIGHT)."""

    def search(query: str, question: Any = None) -> list[str]:
        return sources(r.search(query, 10, question=None if question is None else question.question))

    return search


def sentences_probe(r: Retriever, embed: Callable[[str], np.ndarray]) -> Search:
    def search(query: str, _question: Any = None) -> list[str]:
        parts = [p for p in SENTENCE.split(query.strip()) if len(p.split()) >= 3]
        extra = [(embed(p), 0.5 / len(parts)) for p in parts] if len(parts) > 1 else []
        return sources(r.search(query, 10, extra=extra))

    return search


def prf_probe(r: Retriever) -> Search:
    rows = {id(d): i for i, d in enumerate(r.store.documents)}

    def search(query: str, _question: Any = None) -> list[str]:
        first = r.search(query, 3)
        best = [rows[id(h.document)] for h in first]
        moved = unit(r.embed_query(query) + r.store.vectors[best].mean(axis=0)) if best else None
        return sources(r.search(query, 10, extra=[(moved, 0.5)] if moved is not None else []))

    return search


def fused_pages(parts: list[tuple[Retriever, list[tuple[list[int], float]], float]], k: int) -> list[str]:
    """RRF over pages (by URL path, so two indexes' pages meet), best first."""
    score: dict[str, float] = {}
    for r, lists, scale in parts:
        for rows, weight in lists:
            seen: set[str] = set()
            for row in rows:
                meta = r.store.documents[row].metadata
                page = urlsplit(meta.get("url") or meta["source"]).path
                if page not in seen:
                    seen.add(page)
                    score[page] = score.get(page, 0.0) + scale * weight / (k + len(seen))
    return sorted(score, key=score.__getitem__, reverse=True)[:10]


def both_probe(ours: Retriever, notebook: Retriever) -> Search:
    """`notebook` searches the notebook's chunks by vector and BM25 only (no page list)."""

    def search(query: str, _question: Any = None) -> list[str]:
        parts = [(ours, ours.lists(query, DEPTH)[0], 1.0), (notebook, notebook.lists(query, DEPTH)[0], 0.5)]
        return fused_pages(parts, ours.rrf_k)

    return search


def in_place_probe(r: Retriever, last: str) -> Search:
    """The default with one kind of page (`last`: "listings_last" or "release_notes_last")
    ranked where its match puts it."""
    in_place = Retriever(r.store)
    setattr(in_place, last, False)
    return lambda query, _question=None: sources(in_place.search(query, 10))


def wordllama_probe(r: Retriever) -> Search | None:
    """WordLlama as a further list. Its 0.4 wheel holds the tokenizer in `tokenizers/` but
    looks for it in `tokenizer/`, so the file is linked into a cache folder it also reads."""
    try:
        import wordllama
    except ImportError:
        return None
    cache = Path(tempfile.mkdtemp()) / "tokenizers"
    cache.mkdir()
    for found in (Path(wordllama.__file__).parent / "tokenizers").glob("*.json"):
        (cache / found.name).symlink_to(found)
    model = wordllama.WordLlama.load(cache_dir=cache.parent, disable_download=True)
    vectors = model.embed([d.page_content for d in r.store.documents], norm=True).astype(np.float32)

    def search(query: str, _question: Any = None) -> list[str]:
        near = vectors @ model.embed([query], norm=True)[0].astype(np.float32)
        return sources(r.search(query, 10, ranked=[([int(i) for i in np.argsort(-near)[:DEPTH]], 0.25)]))

    return search


def question_too_probe(r: Retriever, weight: float) -> Search:
    """A follow-up searched as the default did before the twelfth round (the last exchange,
    then the question, no question signal) with the bare question's own lists (vector,
    page list, BM25) fused in by rank at `weight`: the history names the topic, but the
    words of what is asked now can drown in it."""

    def search(query: str, question: Any = None) -> list[str]:
        if question is None or not question.history:
            return sources(r.search(query, 10))
        own = [(rows, w * weight) for rows, w in r.lists(question.question, DEPTH)[0]]
        return sources(r.search(query, 10, ranked=own))

    return search


def previous_turn_probe(r: Retriever, role: str, weigh_question: bool) -> Search:
    """A follow-up searched with only one turn of the last exchange, the user's previous
    question (`user-turn`, measured before the twelfth round: no question signal) or the
    previous answer (`answer-then-question`, the bare question weighed as by the default),
    and then the question."""

    def search(query: str, question: Any = None) -> list[str]:
        if question is None or not question.history:
            return sources(r.search(query, 10))
        turn = [m["content"] for m in question.history if m.get("role") == role][-1:]
        asked = question.question if weigh_question else None
        return sources(r.search("\n".join([*turn, question.question]), 10, question=asked))

    return search


def declarative_probe(r: Retriever) -> Search:
    """The default searching the text with its asking words dropped."""

    def search(query: str, question: Any = None) -> list[str]:
        bare = None if question is None else ASKING.sub(" ", question.question).strip()
        return sources(r.search(ASKING.sub(" ", query).strip(), 10, question=bare))

    return search


def question_weight_probe(r: Retriever, weight: float) -> Search:
    """The default with the bare question's vector evidence at `weight`."""
    other = Retriever(r.store, question_weight=weight)
    other.adopt(r.bm25(), r.hubness(), r.centroids())
    return default_search(other)


def neighbourhood(r: Retriever, k: int = 10, block: int = 1024) -> np.ndarray:
    """Each chunk's mean similarity to its k nearest chunks of other pages."""
    vectors = r.store.vectors.astype(np.float32)
    docs = r.store.documents
    pages = np.array([hash(r.page_key(d, i)) for i, d in enumerate(docs)])
    out = np.zeros(len(docs), dtype=np.float32)
    for start in range(0, len(docs), block):
        sims = vectors[start : start + block] @ vectors.T
        sims[pages[start : start + block, None] == pages[None, :]] = -1.0
        top = np.partition(sims, -k, axis=1)[:, -k:]
        out[start : start + block] = top.mean(axis=1)
    return out


class ScaledRetriever(Retriever):
    """The default with its vector list ranked by similarity minus `share` × neighbourhood."""

    def __init__(self, store: SKLearnStore, local: np.ndarray, share: float) -> None:
        super().__init__(store, fusion="rank")  # its vector list is the one it rescales
        self.local, self.share = local, share

    def _nearest(self, vector: np.ndarray, depth: int) -> list[tuple[int, float]]:
        sims = self.store.vectors @ vector
        scaled = sims - self.share * self.local
        rows = np.argsort(-scaled, kind="stable")[:depth]
        return [(int(row), float(sims[row])) for row in rows]


def csls_probe(r: Retriever, local: np.ndarray, share: float) -> Search:
    scaled = ScaledRetriever(r.store, local, share)
    scaled.adopt(r.bm25(), r.hubness(), r.centroids())
    return lambda query, _question=None: sources(scaled.search(query, 10))


def fusion_probe(r: Retriever, fusion: Fusion, weights: tuple[float, float]) -> Search:
    """The default fused by `fusion` ("rank" or "score"), BM25 and the page list at `weights`."""
    other = Retriever(r.store, fusion=fusion, lexical_weight=weights[0], page_weight=weights[1])
    other.adopt(r.bm25(), r.hubness(), r.centroids())
    return lambda query, _question=None: sources(other.search(query, 10))


class LengthFairRetriever(Retriever):
    """The default with each page's best vector similarity judged against the best of as
    many chunks drawn at random: a page of n chunks gives up `share` × σ × √(2 ln n), about
    the expected maximum of n normal draws (σ: the spread of this query's similarities), so
    a long page does not lead only because it offers more chances (in place of the default's
    hub penalty, which is 0)."""

    def __init__(self, store: SKLearnStore, share: float) -> None:
        super().__init__(store)
        self.share = share

    def _nearness(self, similarity: np.ndarray) -> np.ndarray | None:
        groups = self.page_groups()
        counts = np.diff(np.r_[groups.starts, len(groups.order)])
        size = np.empty(len(similarity))
        size[groups.order] = np.repeat(counts, counts)
        chances = np.sqrt(2.0 * np.log(np.maximum(size, 1.0)))
        return similarity - self.share * float(similarity.std()) * chances


def length_fair_probe(r: Retriever, share: float) -> Search:
    fair = LengthFairRetriever(r.store, share)
    fair.adopt(r.bm25(), r.hubness(), r.centroids())
    return lambda query, _question=None: sources(fair.search(query, 10))


# Score fusion with one weight moved from the default's (BM25, page centroid).
SCORE_WEIGHTS = {
    "score-bm25-0.25": (0.25, PAGE_WEIGHT),
    "score-bm25-0.75": (0.75, PAGE_WEIGHT),
    "score-page-0.5": (LEXICAL_WEIGHT, 0.5),
    "score-page-0": (LEXICAL_WEIGHT, 0.0),
}


def probes(name: str, embeddings: MemoEmbeddings, chosen: list[str]) -> dict[str, Search]:
    ours = Retriever(SKLearnStore.load(CACHE / f"{name}-ours.ragidx", embeddings, EMBEDDER))  # type: ignore[arg-type]
    ours.prepare()
    embed = lambda text: np.asarray(embeddings.embed_query(text), dtype=np.float32)  # noqa: E731
    found: dict[str, Search | None] = {"default": default_search(ours)}
    if "sentences" in chosen:
        found["sentences"] = sentences_probe(ours, embed)
    if "prf" in chosen:
        found["prf"] = prf_probe(ours)
    if "declarative" in chosen:
        found["declarative"] = declarative_probe(ours)
    if "both-chunkings" in chosen:
        notebook = Retriever(
            SKLearnStore.load(CACHE / f"{name}-notebook.ragidx", embeddings, EMBEDDER),  # type: ignore[arg-type]
            page_weight=0.0,
        )
        found["both-chunkings"] = both_probe(ours, notebook)
    if "listings-in-place" in chosen:
        found["listings-in-place"] = in_place_probe(ours, "listings_last")
    if "release-notes-in-place" in chosen:
        found["release-notes-in-place"] = in_place_probe(ours, "release_notes_last")
    if "wordllama" in chosen:
        found["wordllama"] = wordllama_probe(ours)
    for weight in (0.0, 0.5, 2.0):
        if f"question-weight-{weight:g}" in chosen:
            found[f"question-weight-{weight:g}"] = question_weight_probe(ours, weight)
    if "answer-then-question" in chosen:
        found["answer-then-question"] = previous_turn_probe(ours, "assistant", weigh_question=True)
    if "user-turn" in chosen:
        found["user-turn"] = previous_turn_probe(ours, "user", weigh_question=False)
    if "rank-fusion" in chosen:
        found["rank-fusion"] = fusion_probe(ours, "rank", (ours.lexical_weight, ours.page_weight))
    if "score-fusion-equal" in chosen:
        found["score-fusion-equal"] = fusion_probe(ours, "score", (1.0, 1.0))
    for label, weights in SCORE_WEIGHTS.items():
        if label in chosen:
            found[label] = fusion_probe(ours, "score", weights)
    for share in (0.5, 1.0):
        if f"length-fair-{share:g}" in chosen:
            found[f"length-fair-{share:g}"] = length_fair_probe(ours, share)
    local = neighbourhood(ours) if any(c.startswith("csls") for c in chosen) else None
    for share in (0.5, 1.0):
        if f"csls-{share:g}" in chosen and local is not None:
            found[f"csls-{share:g}"] = csls_probe(ours, local, share)
    for weight in (0.5, 1.0):
        if f"question-too-{weight:g}" in chosen:
            found[f"question-too-{weight:g}"] = question_too_probe(ours, weight)
    return {label: search for label, search in found.items() if search is not None}


PROBES = (
    "sentences",
    "prf",
    "both-chunkings",
    "listings-in-place",
    "release-notes-in-place",
    "wordllama",
    "question-too-0.5",
    "question-too-1",
    "user-turn",
    "csls-0.5",
    "csls-1",
    "rank-fusion",
    "score-fusion-equal",
    *SCORE_WEIGHTS,
    "length-fair-0.5",
    "length-fair-1",
    "question-weight-0",
    "question-weight-0.5",
    "question-weight-2",
    "answer-then-question",
    "declarative",
)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--corpora", nargs="*", default=list(CORPORA))
    parser.add_argument("--probes", nargs="*", default=list(PROBES), choices=PROBES)
    args = parser.parse_args()
    embeddings = MemoEmbeddings(LocalEmbeddings())
    saved = RESULTS / "retrieval-probes.json"
    rows: dict[str, dict[str, dict]] = json.loads(saved.read_text())["rows"] if saved.exists() else {}
    # a run on some manuals or probes keeps the others' rows
    manuals = [m for m in CORPORA if m in args.corpora or any(m in r for r in rows.values())]
    for name in args.corpora:
        questions = questions_of(corpus(name))
        for label, search in probes(name, embeddings, args.probes).items():
            report = evaluate(questions, lambda q, s=search: s(history_query(q.question, q.history), q))
            rows.setdefault(label, {})[name] = summary_row(report)
            print(name, label, rows[label][name], flush=True)
        write_result("retrieval-probes", {"manuals": manuals, "rows": rows})


if __name__ == "__main__":
    main()
