"""Finding the chunks that answer a question.

Hybrid by default: the vector store's similarities, BM25's scores (over passages
of each page, rag/lexical.py) and the pages' centroids are fused page by page by
their standardised scores (rag/score_fusion.py; on a small site, chunk by chunk
by reciprocal rank, RRF), pages that come up for everything stepping back a little
(rag/hub_pages.py), then near-duplicate chunks are dropped. `mode="vector"`
is the notebook's plain vector search. The modes and constants were chosen with
`bench/retrieval.py` (docs/benchmarks.md).

Follow-up questions need the conversation: `search_query()` turns the history
and the latest question into what is searched, either the last exchange and the
question together (`history_query`, the bare question's own vector evidence and
the pages' outlines fused in: `search(question=...)`, rag/outlines.py) or the
model's rewrite (see chains.py).
"""

from __future__ import annotations

import contextlib
import re
import threading
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Literal, NamedTuple

import numpy as np
from langchain_core.documents import Document

from .aggregates import aggregate_pages
from .copies import copies_of
from .embeddings.cache import embed_array
from .errors import RagError
from .hub_pages import TOP, HubPages, probe_headings
from .lexical import ChunkBM25, PassageBM25
from .outlines import Outlines
from .release_notes import (
    ASKS_WHAT_CHANGED,
    named_identifiers,
    quoted_spans,
    release_notes_pages,
    words_of,
)
from .score_fusion import ROWS_PER_PAGE, Fused, PageGroups, Signals, fuse, runner_up
from .site_words import page_titles, site_words, without_site_words
from .store import SKLearnStore, page_of, page_of_rows, pages_of, unit_rows

Mode = Literal["hybrid", "vector", "bm25"]
Fusion = Literal["rank", "score"]
Lexical = ChunkBM25 | PassageBM25
# `per_page` caps the chunks of one page in a result: the best chunk of each page, so a
# page that matches everywhere (release notes, a long reference page) takes one of the k
# places, not all of them (chosen leave-one-manual-out: docs/decisions.md). A small site
# (fewer than SMALL_SITE pages) is not capped: there the second chunk of the right page
# holds the answer more often than another page does. The limit was 20 (set on the 7-page
# guide); 5 ranks as well or better on every manual under 60 pages and on the guide
# (bench/small_site_probe.py), and keeps a one-page index from returning a single chunk.
PER_PAGE: int | None = 1
SMALL_SITE = 5
# Three signals are fused over pages (a page counts by its best chunk in each, so a long
# page does not crowd the others; one chunk of it is returned): the vector similarity; BM25
# at half its weight, over passages of the page's text, on word stems ("uploads" finds
# "uploading") and the page's title; and the page's centroid (the mean of its chunks'
# vectors: a page about the question's topic as a whole, though no single chunk of it is
# nearest) at a quarter. They meet by score (FUSION below) or by reciprocal rank, whose
# constant is 20 (a first place counts more than with the usual 60). Chosen
# leave-one-manual-out on every manual in bench/ (docs/decisions.md).
LEXICAL_WEIGHT = 0.5
RRF_K = 20
STEM = True
TITLE_TERMS = True
# BM25 scores passages of this many characters cut from each page's text, not the section
# chunks (see lexical.PassageBM25), its list as deep in pages as the others are in chunks
# (fetch_k); None scores the chunks (as on a small site). Chosen leave-one-manual-out.
PASSAGE_CHARS: int | None = 1200
PAGE_WEIGHT = 0.25
PAGE_RRF = True
# Pages that are copies of each other (the same chunks in the same order, or the same title
# and nearly the same words: rag/copies.py) count as one page in the per-page cap and the
# page fusion: a manual that serves each chapter under two names otherwise fills half of
# every result with the same text (issue 12, ninth and thirtieth rounds).
MERGE_COPIES = True
# How the three lists meet where pages are fused: by their standardised scores
# (rag/score_fusion.py), so a page far ahead in one list keeps its lead, or by rank (RRF).
# Scores since the tenth round of issue 12, by a test fixed before two manuals were
# measured (docs/decisions.md).
FUSION: Fusion = "score"
# Source listings are highlighted code without prose: they match a how-to question's
# identifiers and crowd the pages that explain them, so they come after every other page
# (still returned when nothing else is found). Sphinx's viewcode writes them under
# `_modules/` (measured: docs/decisions.md), Javadoc's -linksource under `src-html/`,
# Doxygen as `<file>_8<ext>_source.html`.
SOURCE_LISTING = re.compile(r"/_modules/|/src-html/|_8[a-z0-9]+_source\.html$")
# Where pages are fused by score, a listing is not put last but weighed down: its score less
# LISTING_PENALTY (summed z-scores, rag/score_fusion.py), so it still leads where it leads the
# pages of prose by more than that, as where the question names what only the code says (a
# driver's default timeout, the words of an error). Chosen leave-one-manual-out on every
# manual with listings (docs/decisions.md, issue 12, thirty-ninth round); None: always last.
LISTING_PENALTY: float | None = 1.5
# Release notes and changelogs the question does not ask about (it does not ask what changed
# nor quote them: rag/release_notes.py) are weighed down the same way, by NOTES_PENALTY: they
# name every feature in passing, but where one leads every other page by more, it is often
# the only page that answers (which release still runs on Python 3.6). Chosen leave-one-
# manual-out on every manual with release notes (issue 12, fortieth round); None: last. Rank
# fusion on small sites and the hub-page count put them last; pages that are other pages
# joined into one (mdBook's print.html; rag/aggregates.py) always come last.
NOTES_PENALTY: float | None = 1.0
# A follow-up is searched as its last exchange and the question together (history_query):
# the exchange names the topic. The latest question alone says what is asked now, and in
# that text it is a few words among many, so its own vector similarity is fused in too, at
# this weight (the vector list's is 1). Measured on every manual's follow-ups and checked on
# follow-ups written after it was chosen (docs/decisions.md, issue 12, twelfth round).
QUESTION_WEIGHT = 1.0
# A follow-up's page outlines (rag/outlines.py: title, headings, first lines, embedded once a
# page) at this weight beside the bare question's evidence; single-turn questions go without.
# Chosen leave-one-manual-out by the default's rule on follow-up R@4 (docs/decisions.md,
# issue 12: fifteenth round; chosen again with hub pages in the seventeenth).
OUTLINE_WEIGHT = 0.5
# Chunks near the corpus's mean direction (release notes, changelogs, overviews: near every
# question) can step back in the vector list by this much similarity per unit of hubness;
# with pages fused as pages and the page list, the bench's manuals did best without it.
HUB_PENALTY = 0.0
# Pages that come up for everything step back: each page's count of how often it is among the
# first five results when the manual's own headings are searched (rag/hub_pages.py), as -log(1 + n),
# is a page signal at this weight. Chosen leave-one-manual-out by the default's rule
# (docs/decisions.md, issue 12, sixteenth round).
HUB_PAGE_WEIGHT = 0.125
# A page with two sections near the question may be more about it than one with a single near
# chunk, which alone decides the vector signal: each page's second-best chunk similarity
# (score_fusion.runner_up) can be a page signal at this weight. Measured on every manual and not
# taken: at 0.125 it gains R@4 on three manuals and loses a question on two (docs/decisions.md,
# issue 12, twenty-second round); an option for bench/ and callers.
SECOND_CHUNK_WEIGHT = 0.0
# After the count fails (an embedder that is down), searches go without it this many seconds
# before one tries again, so a room's searches do not each wait on a failing embedder.
HUB_RETRY_S = 60.0
# A question's vector blended at this weight with the vector of the question without the
# manual's own name (rag/site_words.py). Measured in issue 12's twenty-fourth round
# (bench/site_probe.py): 0.5 gains on 7 manuals and loses a question on 3 (SQLite, Git, the
# Developer's Reference), so not taken: an option.
SITE_WEIGHT = 0.0


@dataclass
class Hit:
    document: Document
    # the score it ranks by: fused (with score fusion a sum of z-scores: may be < 0), less the
    # penalty of a weighed-down listing or release note. Pages that step back altogether
    # come after the others with their fused score: scores descend among the others.
    score: float
    similarity: float  # cosine similarity to the query (0 when only BM25 or the bare question found it)


class StepBack(NamedTuple):
    """What one search puts after every other page, or weighs down by a penalty where it gives
    one: the release notes the question neither asks about nor quotes, and source listings."""

    notes: frozenset[str]
    listing_penalty: float | None = None  # LISTING_PENALTY where pages are fused by score
    notes_penalty: float | None = None  # NOTES_PENALTY where pages are fused by score


class Retriever:
    # the words of the pages that are not release notes, for a name some notes print
    _other_words: str | None = None
    # derived from the store on first use (reset by `_fresh` when it grows)
    _bm25: Lexical | None = None
    _hubness: np.ndarray | None = None
    _centroids: Centroids | None = None

    def __init__(
        self,
        store: SKLearnStore,
        *,
        mode: Mode = "hybrid",
        fetch_k: int = 40,
        rrf_k: int = RRF_K,
        lexical_weight: float = LEXICAL_WEIGHT,
        dedupe: bool = True,
        per_page: int | None = PER_PAGE,
        plain: bool = False,
        stem: bool = STEM,
        hub_penalty: float = HUB_PENALTY,
        page_rrf: bool = PAGE_RRF,
        title_terms: bool = TITLE_TERMS,
        page_weight: float = PAGE_WEIGHT,
        passage_chars: int | None = PASSAGE_CHARS,
        merge_copies: bool = MERGE_COPIES,
        fusion: Fusion = FUSION,
        question_weight: float = QUESTION_WEIGHT,
        outline_weight: float = OUTLINE_WEIGHT,
        hub_page_weight: float = HUB_PAGE_WEIGHT,
        second_chunk_weight: float = SECOND_CHUNK_WEIGHT,
        small_site: int = SMALL_SITE,
        site_weight: float = SITE_WEIGHT,
        listing_penalty: float | None = LISTING_PENALTY,
        notes_penalty: float | None = NOTES_PENALTY,
    ) -> None:
        self.store = store
        self.mode, self.fetch_k, self.rrf_k = mode, fetch_k, rrf_k
        self.lexical_weight, self.dedupe, self.per_page = lexical_weight, dedupe, per_page
        # plain: BM25 and RRF with nothing added (the benchmark's notebook+RRF baseline)
        self.stem, self.page_rrf = stem and not plain, page_rrf and not plain
        self.hub_penalty = 0.0 if plain else hub_penalty
        self.title_terms = title_terms and not plain  # BM25 also matches the page title
        self.page_weight = 0.0 if plain else page_weight
        self.passage_chars = None if plain else passage_chars
        # source listings, release notes and pages joined from others after every other page
        self.listings_last = self.release_notes_last = self.aggregates_last = not plain
        self.merge_copies = merge_copies and not plain
        self.listing_penalty, self.notes_penalty = listing_penalty, notes_penalty
        self.fusion: Fusion = "rank" if plain else fusion
        self.question_weight, self.outline_weight = (0.0, 0.0) if plain else (question_weight, outline_weight)
        self.hub_page_weight, self.second_chunk_weight = (
            (0.0, 0.0) if plain else (hub_page_weight, second_chunk_weight)
        )
        self.small_site, self.site_weight = small_site, 0.0 if plain else site_weight
        self._site_words: frozenset[str] = frozenset()
        self._groups: PageGroups | None = None
        self._copies: dict[str, str] = {}
        self._notes: frozenset[str] = frozenset()  # the pages that are release notes
        self._notes_words: dict[str, str] | None = None  # their words, for a quote
        self._aggregates: frozenset[str] = frozenset()  # pages that are other pages joined (page keys)
        self._outlines: Outlines | None = None
        self._hub_pages: HubPages | None = None
        self._pages, self._size = 0, -1
        self._lock, self._outline_lock, self._hub_lock = threading.Lock(), threading.Lock(), threading.Lock()
        self._hub_failure: tuple[float, RagError] | None = None  # (when, error): not retried for hub_retry_s
        self.hub_retry_s = HUB_RETRY_S

    def _fresh(self) -> None:
        """Drop what was derived from the store when chunks were added since."""
        size = len(self.store)
        if self._size != size:
            self._bm25, self._hubness = None, None
            self._centroids, self._groups, self._outlines = None, None, None
            self._hub_pages = None
            pages = pages_of(self.store.documents)
            self._pages = len(pages)
            self._copies = copies_of(self.store.documents, pages) if self.merge_copies else {}
            self._notes = (
                release_notes_pages(self.store.documents, pages) if self.release_notes_last else frozenset()
            )
            self._notes_words = self._other_words = None
            self._aggregates = self._aggregate_pages(pages) if self.aggregates_last else frozenset()
            self._site_words = frozenset()
            if self.site_weight:  # the manual's own name, for a question that says it
                self._site_words = site_words(page_titles(self.store.documents, pages))
            self._size = size  # last: if a step above fails, the next call derives all again

    def _aggregate_pages(self, pages: dict[str, list[int]]) -> frozenset[str]:
        bodies = [_body(doc) for doc in self.store.documents]
        return aggregate_pages(bodies, pages, lambda page: self._copies.get(page, page))

    def bm25(self) -> Lexical:
        with self._lock:
            self._fresh()
            if self._bm25 is None:
                chars = self._passage_size()
                self._bm25 = lexical_index(self.store.documents, self.stem, self.title_terms, chars)
            return self._bm25

    def passage_size(self) -> int | None:
        """The passage size BM25 scores with on this store; None when it scores chunks."""
        with self._lock:
            self._fresh()
            return self._passage_size()

    def _passage_size(self) -> int | None:
        # a fusion of chunks (a small site, no per-page cap) scores them one by one
        pages_fused = self.page_rrf and self.per_page is not None and self._pages >= self.small_site
        return self.passage_chars if pages_fused else None

    def hubness(self) -> np.ndarray:
        with self._lock:
            self._fresh()
            if self._hubness is None:
                self._hubness = hubness(self.store.vectors)
            return self._hubness

    def centroids(self) -> Centroids:
        with self._lock:
            self._fresh()
            if self._centroids is None:
                self._centroids = Centroids.of(self.store, self.hub_penalty)
            return self._centroids

    def outlines(self) -> Outlines:
        """Each page's outline vector: kept by the store (its file carries them), else embedded
        once. Sessions asking their first follow-up at once wait for one embedding, not one
        each, and other searches do not wait for it (it holds its own lock)."""
        with self._outline_lock:
            with self._lock:
                self._fresh()
                if self._outlines is not None:
                    return self._outlines
                size = self._size
            generation = self.store.generation  # before the chunks are read: a change after it is seen
            docs = list(self.store.documents)
            pages = pages_of(docs)
            found = Outlines.of(docs, pages, self.store.embeddings, self.store.outlines_for(pages))
            self.store.keep_outlines(found.by_page(), generation)
            with self._lock:
                self._fresh()
                if self._size == size == len(docs):
                    self._outlines = found
            return found

    def _outline_scores(self, vector: np.ndarray) -> np.ndarray | None:
        """Each chunk's page outline similarity; None when the embedder fails (the follow-up
        is then ranked without them, and the next one tries again)."""
        try:
            return self.outlines().row_scores(vector)
        except RagError:
            return None

    def page_groups(self) -> PageGroups:
        with self._lock:
            self._fresh()
            if self._groups is None:
                docs = self.store.documents
                self._groups = PageGroups.of([self.page_key(d, row) for row, d in enumerate(docs)])
            return self._groups

    def adopt(
        self, bm25: Lexical, hubness: np.ndarray, centroids: Centroids, hub_pages: HubPages | None = None
    ) -> None:
        """Use parts built elsewhere for this store (a benchmark scoring many settings builds
        each BM25 and centroid set once); they must match this retriever's settings."""
        with self._lock:
            self._fresh()
            self._bm25, self._hubness, self._centroids = bm25, hubness, centroids
            if hub_pages is not None and len(hub_pages.rows) == self._size:
                self._hub_pages = hub_pages

    def prepare(self) -> None:
        """Build what the first search would (BM25, the hub penalty's scores, page centroids,
        the page outlines a follow-up weighs, the hub pages' counts, the page count) now, e.g.
        in the thread that built the index, so a session's first question does not wait for it."""
        self.bm25()
        if self.hub_penalty:
            self.hubness()
        if self.page_weight:
            self.centroids()
        if self.fusion == "score":
            self.page_groups()
        if self._uses_outlines():
            with contextlib.suppress(RagError):  # an embedder that fails: the first follow-up tries again
                self.outlines()
        if self._uses_hub_pages():
            with contextlib.suppress(RagError):  # likewise: the first search tries again
                self.hub_pages()
        self.page_cap()

    def _uses_outlines(self) -> bool:
        """Whether follow-ups weigh page outlines: where pages are fused by score (not on a
        small site, where chunks are fused by rank) and the bare question's evidence is too."""
        return bool(self.outline_weight and self.question_weight and self._by_score(self.page_cap()))

    def _uses_hub_pages(self) -> bool:
        """Whether searches weigh hub pages: where pages are fused by score."""
        return bool(self.hub_page_weight and self._by_score(self.page_cap()))

    def hub_pages(self) -> HubPages:
        """How often each page comes up for the manual's own headings (rag/hub_pages.py),
        counted once: sessions searching at once wait for one count, under a lock of its own
        (the count's searches take the retriever's lock one at a time). When it fails, the
        error is raised again without counting for `hub_retry_s`."""
        with self._hub_lock:
            with self._lock:
                self._fresh()
                if self._hub_pages is not None:
                    return self._hub_pages
                size = self._size
            if self._hub_failure is not None and time.monotonic() < self._hub_failure[0] + self.hub_retry_s:
                raise self._hub_failure[1]  # it failed a moment ago: not each session again
            try:
                found = self._count_hub_pages()
            except RagError as error:
                self._hub_failure = (time.monotonic(), error)
                raise
            self._hub_failure = None
            with self._lock:
                self._fresh()
                if self._size == size == len(found.rows):
                    self._hub_pages = found
            return found

    def _count_hub_pages(self) -> HubPages:
        """Search the sampled headings (embedded as one batch), without the hub signal, and
        count each page among the first TOP results of a heading it does not have."""
        docs = list(self.store.documents)
        keys = [self.page_key(doc, row) for row, doc in enumerate(docs)]
        headings = probe_headings(docs, self.page_key)
        vectors = embed_array(self.store.embeddings, [text for text, _ in headings])
        counts: Counter[str] = Counter()
        for (text, owners), vector in zip(headings, vectors, strict=True):
            found = self._first_pages(text, np.asarray(vector, dtype=np.float32), keys)
            counts.update(page for page in found if page not in owners)
        return HubPages.of(keys, counts)

    def _first_pages(self, query: str, vector: np.ndarray, keys: list[str]) -> list[str]:
        """The distinct pages (`keys`: each row's page) of a search's first TOP chunks, as
        `search` orders them, by score fusion without the hub signal."""
        scored = self._fuse_scores(query, max(self.fetch_k, TOP * 4), vector=vector)
        if scored is None:
            return []
        fused, similarity = scored
        # release notes step back as for a question that names no code: a heading is often a
        # name only the notes print, and counting them there moved gevent's gold page (issue 12)
        back = self.notes_back(query, with_names=False)
        picked = self._pick(fused.scores, similarity, TOP, self.page_cap(), StepBack(back))
        return list(dict.fromkeys(keys[row] for row, _ in picked if row < len(keys)))  # rows added since: out

    def _hub_rows(self) -> np.ndarray | None:
        """Each chunk's hub-page signal; None when the embedder fails (the search is then
        ranked without it, and the next one tries again)."""
        try:
            return self.hub_pages().rows
        except RagError:
            return None

    def _by_score(self, cap: int | None) -> bool:
        """Whether a search fuses pages by their scores, `cap` being the per-page cap in force."""
        return self.fusion == "score" and self.page_rrf and cap is not None and self.mode == "hybrid"

    def embed_query(self, query: str) -> np.ndarray:
        """The query's vector, blended at site_weight with the query's without the manual's
        own name where it says it (rag/site_words.py)."""
        vector = self._embed(query)
        if not self.site_weight:
            return vector
        with self._lock:
            self._fresh()
            words = self._site_words
        bare = without_site_words(query, words)
        if bare != query:  # unit vectors either way: an embedder's scale must not weigh in
            both = unit_rows(np.stack([vector, self._embed(bare)]))
            vector = (1 - self.site_weight) * both[0] + self.site_weight * both[1]
        return unit_rows(vector[None, :])[0]

    def _embed(self, text: str) -> np.ndarray:
        return np.asarray(self.store.embeddings.embed_query(text), dtype=np.float32)

    def search(
        self,
        query: str,
        k: int = 4,
        *,
        question: str | None = None,
        extra: Sequence[tuple[np.ndarray, float]] = (),
        ranked: Sequence[tuple[list[int], float]] = (),
    ) -> list[Hit]:
        """The k best chunks for `query`. `question`: the latest question alone, when `query`
        is it with its history (its vector evidence is fused in at question_weight). `extra`
        adds vector queries to the fusion and `ranked` lists of rows ranked some other way,
        each with its weight (bench/ measures such ideas: retrieval_probes.py)."""
        return [hit for _, hit in self._ranked(query, k, question, extra, ranked)[0]]

    def passages(self, query: str, k: int = 4, *, question: str | None = None) -> list[Hit]:
        """What a model reads for `query`: the k chunks with the best evidence of their own
        among the pages `search` puts first (its first k), best first (release notes, source
        listings and joined pages still last). Where pages are fused by score, `search` gives
        one chunk a page, which ranks the pages well, but the half of an answer a page's best
        chunk leaves out is often in its next chunk, not on the next page (bench/reads.py).
        Where they are not (a small site, rank fusion, a store grown between its parts)
        `search`'s chunks are what is read."""
        picked, fused, similarity, back = self._ranked(query, k, question, read_rows=k)
        if fused is None:
            return [hit for _, hit in picked]
        docs = self.store.documents
        pages = {self.page_key(docs[row], row) for row, _ in picked}
        own = {row: e for row, e in fused.evidence.items() if self.page_key(docs[row], row) in pages}
        return [hit for _, hit in self._pick(own, similarity, k, None, back)]

    def _ranked(
        self,
        query: str,
        k: int,
        question: str | None,
        extra: Sequence[tuple[np.ndarray, float]] = (),
        ranked: Sequence[tuple[list[int], float]] = (),
        read_rows: int = 0,
    ) -> tuple[list[tuple[int, Hit]], Fused | None, dict[int, float], StepBack]:
        """`search`'s hits with their rows, and, where pages were fused by score, the fusion
        (with the evidence of at least `read_rows` chunks a page), the chunks' similarities
        and the release notes that stepped back (read once: they may scan every page's words)."""
        if k <= 0 or not len(self.store) or not query.strip():
            return [], None, {}, StepBack(frozenset())
        depth = max(self.fetch_k, k * 4)
        alone = self.bare_question(query, question)
        # Pages are fused as pages where one chunk a page is returned (not on a small site).
        cap = self.page_cap()
        pages_fused = self.page_rrf and cap is not None
        by_score = self._by_score(cap) and not (extra or ranked)
        scored = self._fuse_scores(query, depth, alone, read_rows=read_rows) if by_score else None
        if scored is not None:
            fusion, similarity = scored
            notes = self.notes_back(query)  # after the fusion: the store's derived state is fresh
            back = StepBack(notes, self.listing_penalty, self.notes_penalty)
            return self._pick(fusion.scores, similarity, k, cap, back), fusion, similarity, back
        if alone is not None and self.mode != "bm25":
            extra = [*extra, (self.embed_query(alone), self.question_weight)]
        lists, similarity = self.lists(query, depth, extra)
        lists += ranked
        fused = self._fuse_pages(lists) if pages_fused else self._fuse(lists)
        back = StepBack(self.notes_back(query))
        return self._pick(fused, similarity, k, cap, back), None, similarity, back

    def notes_back(self, query: str, *, with_names: bool = True) -> frozenset[str]:
        """The release notes that come after every other page for `query`: none if it asks
        what changed, else all but those that print words it quotes or a name it types that
        no other page prints (rag/release_notes.py)."""
        if not self.release_notes_last or ASKS_WHAT_CHANGED.search(query):
            return frozenset()
        notes, spans = self._notes, quoted_spans(query)
        names = named_identifiers(query) if with_names else []
        if not (spans or names) or not notes:
            return notes
        texts = self._notes_texts()  # derived from the store as it is now: it may have grown
        names = [name for name in names if any(name in text for text in texts.values())]
        if names:  # the other pages' words are read only for a name some release notes print
            others = self._others_words()
            spans += [name for name in names if name not in others]
        return frozenset(page for page in notes if not any(span in texts.get(page, "") for span in spans))

    def _notes_texts(self) -> dict[str, str]:
        """Each release-notes page's words (`words_of`), derived once, on the first quote."""
        with self._lock:
            if self._notes_words is None:
                docs, pages = self.store.documents, pages_of(self.store.documents)
                self._notes_words = {
                    page: words_of(" ".join(docs[row].page_content for row in pages[page]))
                    for page in self._notes
                    if page in pages
                }
            return self._notes_words

    def _others_words(self) -> str:
        """The words of every page that is not release notes, derived once, on the first name
        some notes print, and kept: a copy of the text (0.16 s for fontTools' 4,158 chunks; a
        name then scans it in 1.3 ms)."""
        with self._lock:
            if self._other_words is None:
                docs, notes = self.store.documents, self._notes
                rows = (row for row, doc in enumerate(docs) if page_of(doc, row) not in notes)
                self._other_words = words_of(" ".join(docs[row].page_content for row in rows))
            return self._other_words

    def bare_question(self, query: str, question: str | None) -> str | None:
        """The latest question alone, when it is weighed beside `query` (the question with its
        history); None for a single-turn search, or at question weight 0."""
        asked = (question or "").strip()
        return asked if asked and asked != query.strip() and self.question_weight else None

    def lists(
        self, query: str, depth: int, extra: Sequence[tuple[np.ndarray, float]] = ()
    ) -> tuple[list[tuple[list[int], float]], dict[int, float]]:
        """The ranked lists the fusion takes, each `depth` rows with its weight (the vector
        search, the page list, BM25), and the vector search's similarities by row."""
        lists: list[tuple[list[int], float]] = []
        similarity: dict[int, float] = {}
        if self.mode in ("hybrid", "vector"):
            vector = self.embed_query(query)
            nearest = self._nearest(vector, depth)
            similarity.update(nearest)
            lists.append(([row for row, _ in nearest], 1.0))
            if self.page_weight:
                lists.append((self.centroids().ranked(vector, depth), self.page_weight))
            for more, weight in extra:
                lists.append(([row for row, _ in self._nearest(more, depth)], weight))
        if self.mode in ("hybrid", "bm25"):
            lists.append((self.bm25().ranked(query, depth), self.lexical_weight))
        return lists, similarity

    def _fuse_scores(
        self,
        query: str,
        depth: int,
        question: str | None = None,
        *,
        vector: np.ndarray | None = None,
        read_rows: int = 0,
    ) -> tuple[Fused, dict[int, float]] | None:
        """The best `depth` pages by their standardised scores (rag/score_fusion.py), and the
        chosen chunks' similarities; None when the store grew between the parts built from it
        (rank fusion then takes the search). With `vector` (the query's, embedded already) the
        default's own signals without the hub signal: what hub pages are counted with."""
        groups = self.page_groups()
        found = (
            self._signals(query, question) if vector is None else self._evidence(query, None, vector, False)
        )
        if found is None or len(found[2]) != len(groups.order):
            return None
        signals, weights, similarity = found
        offered = max(ROWS_PER_PAGE, (self.per_page or 1) + 2)
        fused = fuse(groups, signals, weights, depth, offered, read_rows)
        return fused, {row: float(similarity[row]) for row in fused.evidence}

    def _signals(self, query: str, question: str | None) -> tuple[Signals, list[float], np.ndarray] | None:
        """What score fusion weighs for `query` (and, for a follow-up, the bare question and the
        page outlines; hub pages for every search) with a weight for each, and the query's
        similarity to every chunk; None when a part is of a smaller store.
        The seam bench/ extends to measure further evidence beside the default's."""
        return self._evidence(query, question, self.embed_query(query), True)

    def _evidence(
        self, query: str, question: str | None, vector: np.ndarray, hubs: bool
    ) -> tuple[Signals, list[float], np.ndarray] | None:
        """`_signals` for the query's vector; with `hubs`, the hub-page and second-chunk signals
        too (hub pages are counted without them: the hub signal was chosen so)."""
        similarity = self.store.similarities(vector)
        nearness = self._nearness(similarity)
        centroid = self.centroids().row_scores(vector) if self.page_weight else np.zeros_like(similarity)
        question_near = (
            self._nearness(self.store.similarities(self.embed_query(question))) if question else None
        )
        if nearness is None or (question and question_near is None):
            return None
        outline = self._outline_scores(vector) if question and self.outline_weight else None
        hub = self._hub_rows() if hubs and self.hub_page_weight else None
        hub = hub if hub is not None and len(hub) == len(similarity) else None  # of a smaller store: left out
        asked = [part for part in (question_near, outline) if part is not None]
        if len({len(part) for part in [similarity, centroid, nearness, *asked]}) != 1:
            return None
        second = self._second_chunks(similarity) if hubs and self.second_chunk_weight else None
        lexical = self.bm25().row_scores(query, len(similarity))
        weights = [1.0, self.lexical_weight, self.page_weight]
        weights += [] if question_near is None else [self.question_weight]
        weights += [] if outline is None else [self.outline_weight]
        weights += [] if hub is None else [self.hub_page_weight]
        weights += [] if second is None else [self.second_chunk_weight]
        signals = Signals(nearness, lexical, centroid, question_near, outline, hub, second)
        return signals, weights, similarity

    def _second_chunks(self, similarity: np.ndarray) -> np.ndarray | None:
        """Each row's page second-best chunk similarity; None when chunks were added since the
        similarities were taken (the search that follows finds the sizes differ)."""
        groups = self.page_groups()
        return runner_up(groups, similarity) if len(groups.order) == len(similarity) else None

    def _nearness(self, similarity: np.ndarray) -> np.ndarray | None:
        """Each chunk's vector evidence for score fusion: its similarity, less the hub
        penalty when there is one; None when the hub scores are of a smaller store."""
        if not self.hub_penalty:
            return similarity
        hub = self.hubness()
        return similarity - self.hub_penalty * hub if len(hub) == len(similarity) else None

    def _nearest(self, vector: np.ndarray, depth: int) -> list[tuple[int, float]]:
        """(row, similarity) nearest first; with a hub penalty, chunks close to the whole
        corpus (release notes, changelogs, indexes) step back."""
        if not self.hub_penalty:
            return self.store.search_vector(vector, depth)
        hub = self.hubness()
        wider = self.store.search_vector(vector, depth * 2)
        wider.sort(key=lambda rs: rs[1] - self.hub_penalty * float(hub[rs[0]]), reverse=True)
        return wider[:depth]

    def page_key(self, doc: Document, row: int) -> str:
        """The page a chunk counts for: its URL, or the first URL of pages that are copies."""
        page = page_of(doc, row)
        return self._copies.get(page, page)

    def _fuse(self, lists: Sequence[tuple[list[int], float]]) -> dict[int, float]:
        fused: dict[int, float] = {}
        for rows, weight in lists:
            for rank, row in enumerate(rows):
                fused[row] = fused.get(row, 0.0) + weight / (self.rrf_k + rank + 1)
        return fused

    def _fuse_pages(self, lists: Sequence[tuple[list[int], float]]) -> dict[int, float]:
        """RRF over pages (a page ranks where its best chunk does in each list), so a page
        with many chunks does not crowd the lists; each chunk gets its page's score plus a
        tie-break by its own chunk-level score."""
        docs = self.store.documents
        page_score: dict[str, float] = {}
        for rows, weight in lists:
            seen: set[str] = set()
            for row in rows:
                page = self.page_key(docs[row], row)
                if page not in seen:
                    seen.add(page)
                    page_score[page] = page_score.get(page, 0.0) + weight / (self.rrf_k + len(seen))
        chunk = self._fuse(lists)
        return {row: page_score[self.page_key(docs[row], row)] + 1e-3 * s for row, s in chunk.items()}

    def steps_back(self, row: int, back: StepBack) -> bool:
        """Whether the row's page comes after every other: a source listing (unless `back`
        weighs listings down instead), other pages joined into one (rag/aggregates.py), or
        release notes in `back` (those the question neither asks about nor quotes)."""
        return self._place(row, back)[0]

    def _place(self, row: int, back: StepBack) -> tuple[bool, float]:
        """Whether the row's page steps back, and how much of its fused score it loses
        otherwise (a listing's and a release note's penalty, where `back` gives one)."""
        doc = self.store.documents[row]
        listing = self.listings_last and bool(SOURCE_LISTING.search(doc.metadata.get("url", "")))
        note = bool(back.notes) and page_of(doc, row) in back.notes
        if (listing and back.listing_penalty is None) or (note and back.notes_penalty is None):
            return True, 0.0
        if self._aggregates and self.page_key(doc, row) in self._aggregates:
            return True, 0.0
        return False, (back.listing_penalty or 0.0) * listing + (back.notes_penalty or 0.0) * note

    def _ordered(self, fused: dict[int, float], back: StepBack) -> list[tuple[int, float]]:
        """The rows best first, each with the score it ranks by: its fused score, less a
        listing's or a release note's penalty where `back` gives one; those that step back
        come after the others, with their fused score."""
        if not (self.listings_last or back.notes or self._aggregates):
            return sorted(fused.items(), key=lambda item: item[1], reverse=True)
        place = {row: self._place(row, back) for row in fused}
        ranked = {row: score - place[row][1] for row, score in fused.items()}
        return sorted(ranked.items(), key=lambda item: (place[item[0]][0], -item[1]))

    def page_cap(self) -> int | None:
        """The per-page cap in force: none on a small site."""
        with self._lock:
            self._fresh()
            return None if self._pages < self.small_site else self.per_page

    def _pick(
        self,
        fused: dict[int, float],
        similarity: dict[int, float],
        k: int,
        cap: int | None,
        back: StepBack,
    ) -> list[tuple[int, Hit]]:
        """The k best fused rows with their hits, without duplicate chunks and within the
        per-page cap; source listings weighed down or last (`back` says which), pages joined
        from others and the release notes in `back` after every other page."""
        hits: list[tuple[int, Hit]] = []
        seen_text: set[str] = set()
        per_page: dict[str, int] = {}
        for row, score in self._ordered(fused, back):
            doc = self.store.documents[row]
            key = _body(doc)
            if self.dedupe and key in seen_text:
                continue
            page = self.page_key(doc, row)
            if cap is not None and per_page.get(page, 0) >= cap:
                continue
            per_page[page] = per_page.get(page, 0) + 1
            seen_text.add(key)
            hits.append((row, Hit(doc, score, similarity.get(row, 0.0))))
            if len(hits) == k:
                break
        return hits


@dataclass
class Centroids:
    """Each page's centroid (the unit mean of its chunks' vectors) and its chunks' rows."""

    vectors: np.ndarray  # (pages, dims)
    penalty: np.ndarray  # per page: the hub penalty times its centroid's hubness
    rows: list[np.ndarray]
    chunks: np.ndarray  # the store's vectors
    page_of_row: np.ndarray  # each chunk's page (an index into `vectors`)

    @classmethod
    def of(cls, store: SKLearnStore, hub_penalty: float) -> Centroids:
        rows = [np.asarray(r) for r in pages_of(store.documents).values()]
        chunks = store.vectors
        means = np.stack([chunks[r].mean(axis=0) for r in rows]) if rows else np.zeros((0, 1), np.float32)
        norms = np.linalg.norm(means, axis=1, keepdims=True)
        vectors = (means / np.where(norms > 0, norms, 1.0)).astype(np.float32)
        return cls(vectors, hub_penalty * hubness(vectors), rows, chunks, page_of_rows(rows, len(chunks)))

    def row_scores(self, vector: np.ndarray) -> np.ndarray:
        """Each chunk's page centroid's similarity to the query (less the page's hub penalty)."""
        if not len(self.rows):
            return np.zeros(len(self.chunks), dtype=np.float32)
        return (self.vectors @ vector - self.penalty)[self.page_of_row].astype(np.float32)

    def ranked(self, vector: np.ndarray, depth: int) -> list[int]:
        """The `depth` pages nearest the query by centroid, each as its chunk nearest the query."""
        if not len(self.rows):
            return []
        scores = self.vectors @ vector - self.penalty
        best = np.argsort(-scores)[:depth]
        return [int(self.rows[p][np.argmax(self.chunks[self.rows[p]] @ vector)]) for p in best]


def lexical_index(
    documents: Sequence[Document],
    stem: bool,
    title_terms: bool,
    passage_chars: int | None,
    tokenizer: Callable[[str], list[str]] | None = None,
) -> Lexical:
    """BM25 over the chunks, or over passages of each page (its chunks in store order);
    with `title_terms` the page's title (and keywords, `page_terms`) is prefixed to each text,
    so it matches too. `tokenizer`: other terms than the default's words (a seam: bench/
    measures them)."""
    pages = pages_of(documents)
    title = page_terms(documents, pages) if title_terms else (lambda d: "")
    if passage_chars is None:
        texts = [f"{t}\n{d.page_content}" if (t := title(d)) else d.page_content for d in documents]
        return ChunkBM25(texts, stem=stem, tokenizer=tokenizer)
    texts_of_pages = [
        (title(documents[rows[0]]), [(row, documents[row].page_content) for row in rows])
        for rows in pages.values()
    ]
    return PassageBM25(texts_of_pages, passage_chars, stem=stem, tokenizer=tokenizer)


def page_terms(
    documents: Sequence[Document], pages: dict[str, list[int]] | None = None
) -> Callable[[Document], str]:
    """A chunk's page title, and its page's declared keywords unless most pages declare the
    same ones (Exim's "exim,smtp,mta,email" on every page tells no page from another)."""
    rows_of = (pages_of(documents) if pages is None else pages).values()
    declared = Counter(str(documents[rows[0]].metadata.get("keywords", "")) for rows in rows_of)
    shared = {words for words, count in declared.items() if count > 1 and count > len(rows_of) / 2}

    def terms(doc: Document) -> str:
        title, words = doc.metadata.get("title", ""), str(doc.metadata.get("keywords", ""))
        return f"{title}\n{words}" if words and words not in shared else title

    return terms


def _body(doc: Document) -> str:
    """The chunk's text without its heading line, whitespace-folded: equal bodies are duplicates."""
    text = doc.page_content
    heading = doc.metadata.get("heading")
    if heading and text.startswith(heading):
        text = text[len(heading) :]
    return " ".join(text.split()).lower()


def hubness(vectors: np.ndarray) -> np.ndarray:
    """How close each chunk sits to the whole corpus: its cosine similarity to the mean
    direction of all chunks. Pages that touch every topic (release notes, changelogs,
    indexes, overviews) are near it, and so near every question without answering it."""
    if not len(vectors):
        return np.zeros(0, dtype=np.float32)
    centre = vectors.mean(axis=0)
    norm = float(np.linalg.norm(centre))
    return (vectors @ (centre / norm)).astype(np.float32) if norm else np.zeros(len(vectors), np.float32)


def history_query(question: str, history: list[dict[str, str]], turns: int = 1) -> str:
    """The latest question after the last `turns` exchanges (question and answer): the
    answer names what "it" or "that" refers to (see docs/benchmarks.md)."""
    previous = [m["content"] for m in history[-2 * turns :] if m.get("content")]
    return "\n".join([*previous, question]) if previous else question
