"""Pages that are other pages joined into one (mdBook's print.html) step back."""

from rag.aggregates import SHARE, SOURCES, aggregate_pages
from rag.retrieval import SMALL_SITE, Retriever
from tests.rag.test_retrieval import _pages_store

TOPICS = [
    "Closures capture variables by reference, by mutable reference or by move.",
    "A match expression must cover every value of the matched type.",
    "Integer overflow panics in debug builds and wraps in release builds.",
    "The question mark operator returns early with the error of a Result.",
    "Traits declare methods that types implement.",
    "Lifetimes name how long a reference stays valid.",
    "Slices are views into a contiguous sequence of elements.",
    "Macros by example match token trees against patterns.",
    "Unsafe blocks let code dereference raw pointers.",
    "Modules group items and control their visibility.",
    "Constants are evaluated at compile time.",
    "Statics have one fixed address for the whole program.",
]


def _key(page: str) -> str:
    return page


def test_a_page_that_copies_a_chunk_each_from_many_pages_is_an_aggregate():
    chapters = {f"ch{i}": [i] for i in range(len(TOPICS))}
    joined = {"print": list(range(len(TOPICS), 2 * len(TOPICS)))}
    bodies = [*TOPICS, *TOPICS]
    assert aggregate_pages(bodies, chapters | joined, _key) == frozenset({"print"})


def test_shared_blocks_few_sources_and_a_small_share_are_not_aggregates():
    n = SOURCES + 2
    # every man page repeats the same option list: each block is on many pages, not one
    shared = {f"man{p}": list(range(p * n, p * n + n)) for p in range(4)}
    bodies = [f"option {i % n}" for i in range(4 * n)]
    assert aggregate_pages(bodies, shared, _key) == frozenset()
    # a page copying from fewer than SOURCES pages
    few = {f"src{i}": [i] for i in range(SOURCES - 1)}
    copier = {"copier": list(range(SOURCES - 1, SOURCES - 1 + n))}
    bodies = [f"text {i}" for i in range(SOURCES - 1)] + [f"text {i % (SOURCES - 1)}" for i in range(n)]
    assert aggregate_pages(bodies, few | copier, _key) == frozenset()
    # copies from SOURCES pages, but under SHARE of a page with much text of its own
    sources = {f"c{i}": [i] for i in range(SOURCES)}
    own = int(SOURCES / SHARE) + 1 - SOURCES  # its copied chunks just under SHARE
    long = {"long": list(range(SOURCES, 2 * SOURCES + own))}
    bodies = [f"t{i}" for i in range(SOURCES)] * 2 + [f"own {i}" for i in range(own)]
    assert aggregate_pages(bodies, sources | long, _key) == frozenset()
    shorter = {"long": list(range(SOURCES, 2 * SOURCES + own - 2))}  # over SHARE: joined
    assert aggregate_pages(bodies, sources | shorter, _key) == frozenset({"long"})


def test_copies_of_a_chapter_count_as_one_source():
    """A chapter served under two names (merged as copies) is one page, not two sources."""
    chapters = {f"ch{i}": [i] for i in range(len(TOPICS))}
    twins = {f"twin{i}": [len(TOPICS) + i] for i in range(len(TOPICS))}  # each chapter again
    joined = {"print": list(range(2 * len(TOPICS), 3 * len(TOPICS)))}
    bodies = [*TOPICS, *TOPICS, *TOPICS]

    def merged(page: str) -> str:
        return page.replace("twin", "ch")

    # unmerged, each copy is on two other pages, so no single copy: not an aggregate
    assert aggregate_pages(bodies, chapters | twins | joined, _key) == frozenset()
    assert aggregate_pages(bodies, chapters | twins | joined, merged) == frozenset({"print"})


def test_the_chapter_comes_before_the_page_that_joins_every_chapter(local_embeddings):
    chapters = [(f"ch{i}.html", text) for i, text in enumerate(TOPICS)]
    joined = [("print.html", text) for text in TOPICS]
    filler = [(f"other{i}", f"Unrelated page {i} about cooking pasta.") for i in range(SMALL_SITE)]
    store = _pages_store(local_embeddings, [*joined, *chapters, *filler])  # the joined page first
    query = "Does integer overflow panic or wrap?"

    def urls(retriever: Retriever) -> list[str]:
        return [h.document.metadata["url"].rsplit("/", 1)[-1] for h in retriever.search(query, k=4)]

    assert urls(Retriever(store))[0] == "ch2.html" and "print.html" not in urls(Retriever(store))
    before = Retriever(store)
    before.aggregates_last = False  # as before the nineteenth round: the joined page takes a place
    assert "print.html" in urls(before)
    assert Retriever(store, plain=True).aggregates_last is False  # the baseline stays plain
