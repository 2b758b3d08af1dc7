import itertools
import time
from functools import partial

import numpy as np
from langchain_core.documents import Document

from rag.copies import NEAR_GROUP_MAX
from rag.lexical import BM25, ChunkBM25, PassageBM25, passages, tokenize, tokenize_stemmed
from rag.retrieval import (
    SMALL_SITE,
    Retriever,
    copies_of,
    history_query,
    hubness,
    lexical_index,
    page_terms,
)
from rag.store import SKLearnStore


def test_tokenize_keeps_identifiers_and_their_parts_without_stop_words():
    assert tokenize("The functools.lru_cache decorator") == [
        "functools",
        "lru_cache",
        "lru",
        "cache",
        "decorator",
    ]


def test_bm25_prefers_rare_matching_terms():
    bm25 = BM25(["the cat sat", "the dog sat", "a cat and a cat"])
    scores = bm25.scores("cat")
    assert scores[1] == 0 and scores[2] > scores[0] > 0
    assert not bm25.scores("unknownword").any()


def _store(local_embeddings, texts):
    store = SKLearnStore(local_embeddings, "local:all-MiniLM-L6-v2")
    docs = [
        Document(page_content=t, metadata={"source": f"http://d/{i}", "heading": ""})
        for i, t in enumerate(texts)
    ]
    store.add_vectors(docs, local_embeddings.encode(texts))
    return store


def test_hybrid_finds_exact_identifiers_that_vectors_blur(local_embeddings):
    texts = [
        "Use OLLAMA_NUM_PARALLEL to decode several requests at the same time.",
        "Concurrency settings decide how many requests an instance serves.",
        "Models stay in memory as long as the keep alive setting says.",
        "Cloud Run bills GPU instances for their whole lifetime.",
    ]
    store = _store(local_embeddings, texts)
    hits = Retriever(store).search("what does OLLAMA_NUM_PARALLEL do", k=2)
    assert hits[0].document.page_content == texts[0]
    assert Retriever(store, mode="bm25").search("keep alive", k=1)[0].document.page_content == texts[2]
    vector_only = Retriever(store, mode="vector").search("billing for GPUs", k=1)
    assert vector_only[0].document.page_content == texts[3] and vector_only[0].similarity > 0.3


def test_duplicates_are_dropped(local_embeddings):
    texts = ["Gemma is an open model.", "Gemma  is an open   model.", "Ollama serves models."]
    store = _store(local_embeddings, texts)
    hits = Retriever(store).search("Gemma open model", k=2)
    kept = [h.document.page_content for h in hits]
    assert len(kept) == 2 and kept[1] == texts[2] and kept[0] in texts[:2]  # one of the two equal chunks
    assert len(Retriever(store, dedupe=False).search("Gemma open model", k=2)) == 2


def test_per_page_caps_the_chunks_of_one_page_except_on_a_small_site(local_embeddings):
    pages = ["a", "a", "a", "b"]
    texts = [
        "Gemma runs on a Cloud Run GPU.",
        "A Cloud Run GPU service runs Gemma.",
        "Gemma on the GPU of Cloud Run.",
        "Cloud Run GPUs bill per instance.",
    ]
    small = _pages_store(local_embeddings, list(zip(pages, texts, strict=True)))

    def urls(retriever: Retriever) -> list[str]:
        return [h.document.metadata["url"] for h in retriever.search("Gemma Cloud Run GPU", k=3)]

    # 2 pages: a small site, no cap (without the page list, which brings page b in on its own)
    assert urls(Retriever(small, page_weight=0.0)) == ["http://d/a"] * 3
    assert urls(Retriever(small, per_page=None, page_weight=0.0)) == ["http://d/a"] * 3
    assert sorted(urls(Retriever(small))) == ["http://d/a", "http://d/a", "http://d/b"]
    filler = [(f"other{i}", f"Unrelated page {i} about cooking pasta.") for i in range(SMALL_SITE)]
    big = _pages_store(local_embeddings, [*zip(pages, texts, strict=True), *filler])
    capped = urls(Retriever(big))  # the default: the best chunk of each page
    assert capped[:2] == ["http://d/a", "http://d/b"] and len(set(capped)) == 3
    assert urls(Retriever(big, per_page=None, page_weight=0.0)) == ["http://d/a"] * 3


def test_history_query_puts_the_last_exchange_before_the_question():
    history = [
        {"role": "user", "content": "How do I sort a list?"},
        {"role": "assistant", "content": "Use sorted()."},
        {"role": "user", "content": "How do I cache a function's results?"},
        {"role": "assistant", "content": "Use functools.lru_cache."},
    ]
    query = history_query("How do I clear it?", history)
    assert query == "How do I cache a function's results?\nUse functools.lru_cache.\nHow do I clear it?"
    assert history_query("Q", []) == "Q"


def test_empty_store_and_empty_query_return_nothing(local_embeddings):
    empty = SKLearnStore(local_embeddings, "local:all-MiniLM-L6-v2")
    assert Retriever(empty).search("anything") == []
    assert Retriever(_store(local_embeddings, ["x"])).search("   ") == []
    assert np.isfinite(Retriever(_store(local_embeddings, ["only one"])).search("one", k=4)[0].score)


def test_stemmed_bm25_matches_other_forms_of_a_word():
    texts = ["Uploading large files", "Caching pages", "Running tests"]
    assert not BM25(texts).scores("uploads").any()
    scores = BM25(texts, stem=True).scores("uploads")
    assert scores[0] > 0 and not scores[1:].any()
    assert tokenize_stemmed("cached lru_cache") == ["cach", "lru_cach", "lru", "cach"]


def test_hubness_is_highest_for_the_chunk_near_everything():
    rng = np.random.default_rng(1)
    topics = rng.normal(size=(8, 32))
    vectors = np.vstack([t + 0.1 * rng.normal(size=(5, 32)) for t in topics])  # 8 topics, 5 chunks each
    hub = topics.mean(axis=0, keepdims=True)  # a page that mentions every topic a little
    vectors = np.vstack([vectors, hub]).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    scores = hubness(vectors)
    assert scores.argmax() == len(vectors) - 1


def _pages_store(local_embeddings, pages: list[tuple[str, str]]) -> SKLearnStore:
    store = SKLearnStore(local_embeddings, "local:all-MiniLM-L6-v2")
    docs = [Document(t, metadata={"url": f"http://d/{p}", "source": f"http://d/{p}"}) for p, t in pages]
    store.add_vectors(docs, local_embeddings.encode([t for _, t in pages]))
    return store


def test_hub_penalty_puts_the_specific_page_before_the_one_that_mentions_everything(local_embeddings):
    topics = [
        "Set MAX_CONTENT_LENGTH to limit the size of uploaded files.",
        "Use the cache_page decorator to cache a whole view.",
        "Run the tests with a test client instead of a real server.",
        "Flash a message to show it once on the next page.",
        "Blueprints split an application into modules.",
        "Sessions keep a user logged in between requests.",
    ]
    changelog = "Changes: " + " ".join(topics)  # near every question, the answer to none in full
    store = _pages_store(
        local_embeddings, [("changes", changelog), *[(f"p{i}", t) for i, t in enumerate(topics)]]
    )
    query = "How do I limit uploaded file size?"
    hub = Retriever(store, mode="vector", hub_penalty=1.0).search(query, k=2)
    assert hub[0].document.metadata["url"] == "http://d/p0"
    assert Retriever(store, hub_penalty=1.0, plain=True).hub_penalty == 0.0  # the baseline stays plain


def test_page_rrf_ranks_pages_not_their_chunk_counts(local_embeddings):
    long_page = [("long", f"Cloud Run GPU instances, part {i}: billing and quotas.") for i in range(6)]
    filler = [(f"other{i}", f"Unrelated page {i} about cooking pasta.") for i in range(SMALL_SITE)]
    store = _pages_store(
        local_embeddings, [*long_page, ("short", "Cloud Run GPU billing per second."), *filler]
    )
    hits = Retriever(store, page_rrf=True).search("Cloud Run GPU billing", k=4)
    pages = [h.document.metadata["url"] for h in hits]
    assert sorted(pages[:2]) == ["http://d/long", "http://d/short"] and len(set(pages)) == 4
    assert [h.score for h in hits] == sorted((h.score for h in hits), reverse=True)


def test_copies_of_a_page_take_one_place(local_embeddings):
    """A manual serving each chapter under two names (Exim's ch-x.html and chNN.html)."""
    chapter = [
        "The pipe transport runs a command and writes the message to its standard input.",
        "Exit code 75 from the command is a temporary error: the delivery is retried later.",
    ]
    others = [
        "The appendfile transport writes messages to mailbox files or Maildir directories.",
        "The smtp transport delivers messages to remote hosts over SMTP.",
        "Retry rules say how often and for how long a failing delivery is tried again.",
    ]
    filler = [(f"other{i}", f"Unrelated page {i} about cooking pasta.") for i in range(SMALL_SITE)]
    pages = [
        *(("ch-pipe.html", t) for t in chapter),
        *(("ch29.html", t) for t in chapter),
        *((f"ch-{i}.html", t) for i, t in enumerate(others)),
        *filler,
    ]
    store = _pages_store(local_embeddings, pages)
    query = "Which exit code makes Exim retry a delivery to a program later?"

    def urls(retriever: Retriever) -> list[str]:
        return [h.document.metadata["url"].rsplit("/", 1)[-1] for h in retriever.search(query, k=3)]

    merged = urls(Retriever(store))
    assert merged[0] == "ch-pipe.html" and "ch29.html" not in merged and len(set(merged)) == 3
    assert sorted(urls(Retriever(store, merge_copies=False))[:2]) == ["ch-pipe.html", "ch29.html"]
    assert Retriever(store, plain=True).merge_copies is False  # the baseline stays plain
    copies = copies_of(store.documents)
    assert copies["http://d/ch29.html"] == "http://d/ch-pipe.html"
    assert copies["http://d/ch-0.html"] == "http://d/ch-0.html"


def test_pages_that_share_only_some_chunks_are_not_copies():
    docs = [
        Document("Intro.", metadata={"url": "http://d/a"}),
        Document("Shared section.", metadata={"url": "http://d/a"}),
        Document("Shared section.", metadata={"url": "http://d/b"}),
        Document("Shared section.", metadata={"url": "http://d/c"}),
    ]
    assert copies_of(docs) == {
        "http://d/a": "http://d/a",
        "http://d/b": "http://d/b",
        "http://d/c": "http://d/b",
    }


GROUPS = [
    "Groups are the main objects of this chapter; a group is a domain with an associative",
    "multiplication, an identity and inverses. The order of G is the number of its elements,",
    "and Size(G) computes it; for a permutation group it uses a stabilizer chain, which is fast.",
]


def _chapter(url: str, title: str, texts: list[str]) -> list[Document]:
    return [Document(t, metadata={"url": url, "title": title}) for t in texts]


def _mathjax(texts: list[str]) -> list[str]:
    return [
        t.replace("of G is", "of \\(G\\) is").replace("Size(G)", "\\(\\mathrm{Size}(G)\\)") for t in texts
    ]


def test_a_mathjax_copy_of_a_chapter_is_a_copy():
    """GAP's reference prints every chapter again for MathJax: the same words, formulas as TeX."""
    title = "GAP (ref) - Chapter 39: Groups"
    docs = [
        *_chapter("http://d/chap39.html", title, GROUPS),
        *_chapter("http://d/chap39_mj.html", title, _mathjax(GROUPS)),
        *_chapter("http://d/elsewhere.html", "Chapter 40", [f"{t} " for t in _mathjax(GROUPS)]),
    ]
    assert _mathjax(GROUPS) != GROUPS
    assert copies_of(docs) == {
        "http://d/chap39.html": "http://d/chap39.html",
        "http://d/chap39_mj.html": "http://d/chap39.html",
        "http://d/elsewhere.html": "http://d/elsewhere.html",  # the same words, another title
    }


def test_pages_that_share_a_title_and_most_words_but_not_nearly_all_are_not_copies():
    """CMake documents a property for directories and again for targets, in nearly the same
    words (here 0.86 of the 4-word runs)."""
    docs = [
        *_chapter("http://d/prop_dir/X.html", "X - CMake", GROUPS),
        *_chapter("http://d/prop_tgt/X.html", "X - CMake", [GROUPS[0], GROUPS[1] + " Also.", GROUPS[2]]),
        *_chapter("http://d/other.html", "", GROUPS[::-1]),
        *_chapter("http://d/again.html", "", GROUPS[::-1]),
    ]
    copies = copies_of(docs)
    assert copies["http://d/prop_tgt/X.html"] == "http://d/prop_tgt/X.html"
    assert copies["http://d/again.html"] == "http://d/other.html"  # the same chunks: a copy


def test_a_title_every_page_has_is_no_sign_of_copies():
    def site(pages: int) -> list[Document]:
        docs = [
            d for i in range(pages - 1) for d in _chapter(f"http://d/{i}", "Manual", [f"Page {i}.", *GROUPS])
        ]
        return docs + _chapter("http://d/mathjax", "Manual", ["Page 0.", *_mathjax(GROUPS)])

    assert copies_of(site(NEAR_GROUP_MAX))["http://d/mathjax"] == "http://d/0"
    assert copies_of(site(NEAR_GROUP_MAX + 1))["http://d/mathjax"] == "http://d/mathjax"


def test_pages_of_few_or_no_latin_words_are_compared_on_their_own_words():
    russian = ["Главная страница руководства: установка и настройка сервера."]
    other = ["Главная страница руководства: резервное копирование базы данных."]
    docs = [*_chapter("http://d/ru/a", "Главная", russian), *_chapter("http://d/ru/b", "Главная", other)]
    docs += [
        *_chapter("http://d/x", "Home", ["Three words only."]),
        *_chapter("http://d/y", "Home", ["Three words only!"]),
    ]
    copies = copies_of(docs)
    assert copies["http://d/ru/b"] == "http://d/ru/b" and copies["http://d/y"] == "http://d/y"


def test_page_centroids_rank_pages_and_stand_for_each_by_its_nearest_chunk(local_embeddings):
    from rag.retrieval import Centroids

    store = _pages_store(
        local_embeddings,
        [
            ("gpu", "Cloud Run GPU instances are billed per second."),
            ("gpu", "An L4 GPU can be attached to each Cloud Run instance."),
            ("pasta", "Boil the pasta for nine minutes in salted water."),
        ],
    )
    centroids = Centroids.of(store, hub_penalty=0.0)
    assert centroids.vectors.shape == (2, store.vectors.shape[1])
    np.testing.assert_allclose(np.linalg.norm(centroids.vectors, axis=1), 1.0, atol=1e-5)
    query = np.asarray(local_embeddings.embed_query("How is a GPU billed?"), dtype=np.float32)
    assert centroids.ranked(query, 5) == [0, 2]  # the billing chunk stands for its page
    hits = Retriever(store, page_weight=0.5).search("How is a GPU billed?", k=2)
    assert [h.document.metadata["url"] for h in hits] == ["http://d/gpu", "http://d/gpu"]


def test_source_listing_paths_of_sphinx_javadoc_and_doxygen():
    from rag.retrieval import SOURCE_LISTING

    for url in (
        "http://d/_modules/scrapy/exceptions.html",
        "http://d/api/src-html/org/apache/commons/lang3/StringUtils.html",
        "http://d/forwards_8h_source.html",
    ):
        assert SOURCE_LISTING.search(url), url
    prose = ("topics/exceptions.html", "modules/index.html", "source.html", "configure_data_source.html")
    for url in (f"http://d/{p}" for p in prose):
        assert not SOURCE_LISTING.search(url), url


def test_source_listings_come_after_every_page_that_explains(local_embeddings):
    """A Sphinx viewcode page (`_modules/`) matches a question's identifiers word for word;
    it is still found, but after the pages with prose."""
    pages = [
        (
            "_modules/scrapy/exceptions",
            "class CloseSpider(Exception): def __init__(self, reason='cancelled')",
        ),
        (
            "topics/exceptions",
            "Raise CloseSpider from a spider callback to close the spider, giving a reason.",
        ),
        ("topics/spiders", "Spiders define how a site is crawled and how items are extracted."),
    ]
    store = _pages_store(local_embeddings, pages)
    urls = [h.document.metadata["url"] for h in Retriever(store).search("CloseSpider reason cancelled", k=3)]
    assert urls[-1] == "http://d/_modules/scrapy/exceptions" and len(urls) == 3
    plain = [
        h.document.metadata["url"]
        for h in Retriever(store, plain=True).search("CloseSpider reason cancelled")
    ]
    assert plain[0] == "http://d/_modules/scrapy/exceptions"  # where it ranks by its match alone
    only = _pages_store(local_embeddings, pages[:1])
    assert [h.document.metadata["url"] for h in Retriever(only).search("CloseSpider")] == [
        "http://d/_modules/scrapy/exceptions"
    ]


def _page_order(store: SKLearnStore, query: str, **options) -> list[str]:
    """The pages (paths below http://d/) of `search`'s first six hits, best first."""
    hits = Retriever(store, **options).search(query, k=6)
    return [h.document.metadata["url"].removeprefix("http://d/") for h in hits]


def test_a_source_listing_is_weighed_down_and_leads_only_far_ahead(local_embeddings):
    """Where pages are fused by score, a listing's score is lowered by LISTING_PENALTY instead
    of the listing going last: it leads where only the code answers (issue 12, tooz), and a
    penalty larger than its lead puts it after the pages of prose."""
    pages = [
        ("_modules/tooz/drivers/redis", "class RedisDriver: DEFAULT_SOCKET_TIMEOUT = 30; lock_timeout = 30"),
        ("drivers", "Drivers connect tooz to a backend: Redis, ZooKeeper, etcd, memcached or a file."),
        ("tutorial/lock", "Take a distributed lock with a coordinator's get_lock and release it after."),
        ("tutorial/group", "Members join a group and watch it for others joining or leaving."),
        ("install", "Install tooz with pip; each driver needs its own client library."),
        ("history", "tooz started as an OpenStack library for distributed coordination."),
    ]
    store = _pages_store(local_embeddings, pages)
    query = "What is the Redis driver's DEFAULT_SOCKET_TIMEOUT?"
    urls = partial(_page_order, store, query)
    listing = "_modules/tooz/drivers/redis"
    assert urls(listing_penalty=2.0)[0] == listing  # it leads the first page of prose by more
    read = Retriever(store, listing_penalty=2.0).passages(query, k=2)
    assert read[0].document.metadata["url"] == "http://d/" + listing
    weighed = urls(listing_penalty=3.0)  # by less: after that page, still ahead of the others
    assert weighed[:3] == ["drivers", listing, "install"]
    assert urls().index(listing) < urls().index("install")  # the default weighs it down too
    assert urls(listing_penalty=None)[-1] == listing  # the option off: last, as before
    heavy = urls(listing_penalty=1e6)
    assert heavy[-1] == listing and heavy[:5] == urls(listing_penalty=None)[:5]  # a penalty past its lead


_POOK_PAGES = [
    (
        "changelog",
        "2.0.0: dropped support for Python 2.7. The 1.4 series is the last to support "
        "Python 2.7; pin pook<2 there.",
    ),
    ("install", "Install pook with pip from PyPI; it has no required dependencies."),
    ("tutorial", "Mock an HTTP request: pook.get(url).reply(200) and activate the engine."),
    ("api", "pook.activate() starts intercepting outgoing HTTP traffic; pook.off() stops it."),
    ("faq", "Questions about matching headers, JSON bodies and query strings."),
    ("examples", "Examples with requests, urllib3 and aiohttp clients."),
]
_POOK_QUERY = "Which pook release can a legacy service stuck on Python 2.7 still use?"


def test_release_notes_are_weighed_down_and_lead_only_far_ahead(local_embeddings):
    """Where pages are fused by score, release notes the question does not ask about are
    weighed down by NOTES_PENALTY instead of going last: they still lead where only they
    answer by far (which release still runs on an old Python: issue 12, limits and pook)."""
    store = _pages_store(local_embeddings, _POOK_PAGES)
    query = _POOK_QUERY
    urls = partial(_page_order, store, query)
    assert urls(notes_penalty=1.0)[0] == "changelog"  # it leads the first other page by 1.8
    assert (
        Retriever(store, notes_penalty=1.0).passages(query, k=2)[0].document.metadata["url"]
        == "http://d/changelog"
    )
    assert urls(notes_penalty=2.0)[:3] == ["install", "changelog", "api"]  # by less: after that page
    assert urls() == urls(notes_penalty=1.0)  # the default: NOTES_PENALTY
    assert urls(notes_penalty=None)[-1] == "changelog"  # the option off: last, as before
    heavy = urls(notes_penalty=1e6)
    assert heavy[-1] == "changelog" and heavy == urls(notes_penalty=None)
    asked = "Which release dropped Python 2.7?"  # asks what changed: no penalty
    found = Retriever(store, notes_penalty=1e6).search(asked, k=1)
    assert found[0].document.metadata["url"] == "http://d/changelog"


def test_a_weighed_down_page_reports_the_score_it_ranks_by(local_embeddings):
    """A hit's score is the one it was ranked by: a weighed-down release note's fused score
    less the penalty, so the scores of `search` (and of `search --json`) descend."""
    store = _pages_store(local_embeddings, _POOK_PAGES)

    def scores(penalty: float) -> dict[str, float]:
        hits = Retriever(store, notes_penalty=penalty).search(_POOK_QUERY, k=6)
        assert [h.score for h in hits] == sorted((h.score for h in hits), reverse=True)
        return {h.document.metadata["url"].removeprefix("http://d/"): h.score for h in hits}

    light, heavy = scores(0.0), scores(2.5)
    assert abs(heavy["changelog"] - (light["changelog"] - 2.5)) < 1e-9
    assert {page: heavy[page] for page in light if page != "changelog"} == {
        page: score for page, score in light.items() if page != "changelog"
    }


def test_release_notes_paths_and_titles():
    from rag.release_notes import is_release_notes

    notes = {
        "http://d/whatsnew/3.11.html": "What's New In Python 3.11",
        "http://d/releases/3.2.html": "Django 3.2 release notes",
        "http://d/releaselog/3_34_0.html": "SQLite Release 3.34.0 On 2020-12-01",
        "http://d/changes.html": "Release History Of SQLite",
        "http://d/news.html": "Release notes \u2014 Scrapy 2.8",
        "http://d/announce/release-2.9.0.html": "pytest-2.9.0",
        "http://d/history/changelog-3.1.html": "Change history for Celery 3.1",
        "http://d/whatsnew-5.2.html": "What's new in Celery 5.2",
        "http://d/changelog/migration_14.html": "What's New in SQLAlchemy 1.4?",
        "http://d/release-15.html": "E.1. Release 15.5",
        "http://d/md_NEWS.html": "Version History",
        "http://d/CHANGES.html": "Changes",
        "http://d/version9.html": "Vim documentation: version9",
        "http://d/version3.html": "SQLite Version 3 Overview",
        "http://d/version-2.1.html": "Version 2.1",
        "http://d/history.html": "History \u2014 pytest documentation",
        "http://e/news.html": "Recent SQLite News",
        "http://f/news.html": "libvirt: libvirt releases",
        "http://g/history.html": "RSyslog - History \u2014 rsyslog 8.2302.0 documentation",
        "http://h/HISTORY.html": "Docutils History",
        "http://i/history.html": "History \u2014 Python  documentation",
        "http://j/changes.html": "Changes \u2014 Flask Documentation (2.2.x)",
        "http://d/NEWS.html": "GCC 12 Release Series \u2014 Changes, New Features, and Fixes",
    }
    for url, title in notes.items():
        assert is_release_notes(url, title), url
    prose = {
        "http://d/c3ref/changes.html": "Count The Number Of Rows Modified",  # sqlite3_changes()
        "http://d/Commands-for-History.html": "Commands For History",
        "http://d/topics/newsletters.html": "Sending newsletters",
        "http://d/library/readline.html": "readline \u2014 GNU readline interface",
        "http://d/lang_altertable.html": "ALTER TABLE",
        "http://d/releases-of-locks.html": "Releasing locks",
        "http://d/contributing/new-features.html": "Proposing new features",
        "http://d/v8.html": "V8 | Node.js v18 Documentation",
        "http://d/versioning.html": "Versioning your API",
        "http://d/version9/intro.html": "Introduction",
        "http://d/en/version-2.1/": "Documentation for version 2.1",
        # named like release notes, titled otherwise: a command, a narrative, a module's source
        "http://d/cmds/history.html": "history - show and manipulate command history \u2014 fish-shell",
        "http://e/history.html": "2. A Brief History of PostgreSQL",
        "http://f/history.html": "History of NTP",
        "http://d/_modules/sphinx/builders/changes.html": "sphinx.builders.changes \u2014 Sphinx",
        "http://g/news.html": "",
    }
    for url, title in prose.items():
        assert not is_release_notes(url, title), url
    # A title of many spaces is split in linear time (`\s+` both sides took seconds).
    started = time.monotonic()
    assert not is_release_notes("http://d/NEWS.md", "News" + " " * 50_000 + "x")
    assert time.monotonic() - started < 1.0


def test_release_notes_come_after_the_page_that_explains_the_feature(local_embeddings):
    """A changelog names the feature a question asks about in passing; the page that explains
    it comes first, and the changelog is still found after it."""
    pages = [
        (
            "history/changelog-4.0",
            "Tasks can now be retried with exponential backoff: retry_backoff, retry_jitter.",
        ),
        ("userguide/tasks", "Set retry_backoff on a task to wait longer between each automatic retry."),
        ("userguide/routing", "Routes send tasks to named queues."),
    ]
    store = _pages_store(local_embeddings, pages)
    query = "retry with exponential backoff and jitter"
    urls = [h.document.metadata["url"] for h in Retriever(store).search(query, k=3)]
    assert urls[0] == "http://d/userguide/tasks" and "http://d/history/changelog-4.0" in urls
    assert urls.index("http://d/history/changelog-4.0") > urls.index("http://d/userguide/routing")
    plain = [h.document.metadata["url"] for h in Retriever(store, plain=True).search(query)]
    assert plain[0] == "http://d/history/changelog-4.0"  # where it ranks by its match alone


def test_release_notes_answer_a_question_about_what_changed(local_embeddings):
    pages = [
        ("history/whatsnew-5.2", "What's new in Celery 5.2: Python 3.6 is no longer supported."),
        ("getting-started/introduction", "Celery requires Python 3.7 or newer."),
        ("userguide/routing", "Routes send tasks to named queues."),
    ]
    store = _pages_store(local_embeddings, pages)
    asked = Retriever(store).search("What's new in Celery 5.2?", k=3)
    assert asked[0].document.metadata["url"] == "http://d/history/whatsnew-5.2"
    feature = Retriever(store).search("Which Python does Celery 5.2 need?", k=3)
    assert feature[-1].document.metadata["url"] == "http://d/history/whatsnew-5.2"


def test_passages_cover_the_text_in_overlapping_spans_ending_at_spaces():
    text = " ".join(f"word{i}" for i in range(400))
    spans = passages(text, 200, 25)
    assert spans[0][0] == 0 and spans[-1][1] == len(text)
    for (s1, e1), (s2, _) in itertools.pairwise(spans):
        assert e1 - s1 <= 200 and text[e1] == " " and s1 < s2 < e1  # overlapping, cut at a space
        assert e1 - s2 <= 25
    assert passages("", 200, 25) == [] and passages("short", 200, 25) == [(0, 5)]


def _page_docs(pages: dict[str, list[str]]) -> list[Document]:
    return [
        Document(
            page_content=text, metadata={"url": url, "source": f"{url}#{i}", "title": url.split("/")[-1]}
        )
        for url, texts in pages.items()
        for i, text in enumerate(texts)
    ]


def test_passage_bm25_finds_a_page_whose_words_are_split_across_its_chunks():
    docs = _page_docs(
        {
            "http://d/threadsafe": [
                "Threading modes",
                "In serialized mode one connection may be shared by threads.",
            ],
            "http://d/other": ["Threads", "Threads threads threads."],
            "http://d/unrelated": ["Backups", "Copy the database file while no one writes."],
        }
    )
    query = "can threads share one connection in serialized mode"
    chunks = lexical_index(docs, True, False, None)
    by_passage = lexical_index(docs, True, False, 1200)
    assert isinstance(chunks, ChunkBM25) and isinstance(by_passage, PassageBM25)
    ranked = by_passage.ranked(query, 10)
    assert docs[ranked[0]].metadata["url"] == "http://d/threadsafe"
    assert ranked[0] == 1  # the passage stands for the chunk it overlaps most
    assert len(ranked) == len(set(ranked)) and 4 not in ranked and 5 not in ranked  # no match, not listed
    assert {docs[r].metadata["url"] for r in by_passage.ranked(query, 1)} == {"http://d/threadsafe"}


def test_a_pages_keywords_match_unless_most_pages_declare_the_same():
    """LibreOffice's help declares each page's index entries ("references, to cells in other
    documents"); Exim declares "exim,smtp,mta,email" on every page, which tells none apart."""
    docs = _page_docs({f"http://d/p{i}": [f"Text of page {i}."] for i in range(4)})
    docs[0].metadata["keywords"] = "references, to cells in other documents"
    for doc in docs[1:]:
        doc.metadata["keywords"] = "exim,smtp,mta,email"
    terms = page_terms(docs)
    assert terms(docs[0]) == "p0\nreferences, to cells in other documents"
    assert [terms(d) for d in docs[1:]] == ["p1", "p2", "p3"]
    for chars in (None, 1200):
        index = lexical_index(docs, True, True, chars)
        assert (
            docs[index.ranked("referencing a cell in another document", 10)[0]].metadata["url"]
            == "http://d/p0"
        )
        assert not index.ranked("smtp", 10)
    assert not lexical_index(docs, True, False, None).ranked("references", 10)  # the plain baseline
    half = _page_docs({f"http://d/p{i}": [f"Page {i}."] for i in range(4)})
    for doc in half[:2]:
        doc.metadata["keywords"] = "shared words"
    assert page_terms(half)(half[0]) == "p0\nshared words"  # two of four: not most pages
    alone = _page_docs({"http://d/only": ["Text."]})
    alone[0].metadata["keywords"] = "sheet references"
    assert page_terms(alone)(alone[0]) == "only\nsheet references"


def test_passage_bm25_cuts_a_long_page_and_each_passage_owns_its_chunk():
    sections = [f"Section {i}. " + " ".join(f"topic{i}" for _ in range(60)) for i in range(6)]
    docs = _page_docs({"http://d/long": sections})
    index = lexical_index(docs, False, True, 300)
    assert isinstance(index, PassageBM25) and len(index.owners) > len(sections)
    for i in range(6):
        assert index.ranked(f"topic{i}", 10)[0] == i


def test_the_default_scores_passages_and_the_plain_baseline_chunks(local_embeddings):
    texts = ["alpha beta", "gamma delta", *(f"page {i}" for i in range(SMALL_SITE))]
    store = _pages_store(local_embeddings, [(f"p{i}", t) for i, t in enumerate(texts)])
    assert isinstance(Retriever(store).bm25(), PassageBM25)
    assert isinstance(Retriever(store, plain=True).bm25(), ChunkBM25)
    assert isinstance(Retriever(store, passage_chars=None).bm25(), ChunkBM25)
    assert Retriever(store, mode="bm25").search("delta", k=1)[0].document.page_content == "gamma delta"
    small = _pages_store(local_embeddings, [("a", "alpha beta"), ("a", "gamma delta")])
    assert isinstance(Retriever(small).bm25(), ChunkBM25)  # a small site fuses chunks


TLS_PAGES = [
    (
        "tls-client",
        "Outgoing mail over TLS: set smtp_tls_security_level = may in main.cf for opportunistic TLS when "
        "the SMTP client sends mail to other servers; smtp_tls_CAfile names the certificates it trusts.",
    ),
    (
        "tls-server",
        "Incoming mail over TLS: smtpd_tls_cert_file and smtpd_tls_key_file give the SMTP server's "
        "certificate and key for STARTTLS.",
    ),
    (
        "tls-policy",
        "Per-destination TLS policy: smtp_tls_policy_maps makes the SMTP client encrypt or verify for one "
        "domain when it sends mail.",
    ),
    (
        "tls-logging",
        "TLS logging: smtp_tls_loglevel makes the SMTP client log the TLS handshake when it sends mail to "
        "other servers.",
    ),
    (
        "finger",
        "posttls-finger is a command-line tool: it connects to a remote mail server, prints the certificate "
        "chain it presents and says whether verification would succeed.",
    ),
]
TLS_HISTORY = [
    {"role": "user", "content": "How do I make Postfix use TLS when it sends mail out to other servers?"},
    {
        "role": "assistant",
        "content": "Set smtp_tls_security_level = may in main.cf (plus smtp_tls_CAfile if you want "
        "certificates checked) and reload; the Postfix SMTP client then uses STARTTLS whenever the "
        "remote server offers it.",
    },
]
NEW_ASK = (
    "One partner says our connections fail their check. Is there a tool I can run that connects to "
    "their server and shows me what it presents?"
)


def test_a_follow_ups_bare_question_is_weighed_beside_its_history(local_embeddings):
    """The last exchange is all TLS settings; what is asked now is a tool. Searched as
    exchange + question alone, the settings pages win; with the question's own evidence
    fused in (QUESTION_WEIGHT), the tool's page comes first (by score; by rank it enters)."""
    filler = [(f"other{i}", f"Unrelated page {i} about cooking pasta and baking bread.") for i in range(25)]
    store = _pages_store(local_embeddings, [*TLS_PAGES, *filler])
    query = history_query(NEW_ASK, TLS_HISTORY)

    def pages(retriever: Retriever, k: int, question: str | None = NEW_ASK) -> list[str]:
        return [
            h.document.metadata["url"].rsplit("/", 1)[1]
            for h in retriever.search(query, k, question=question)
        ]

    assert "finger" not in pages(Retriever(store, question_weight=0.0), 2)
    # the page outlines (test below) are left out here: these pages' outlines are their texts
    assert pages(Retriever(store, outline_weight=0.0), 2)[0] == "finger"
    without = pages(Retriever(store), 3, question=None)
    for nothing_to_add in (query, "", "   ", f"  {query}\n"):
        assert pages(Retriever(store), 3, question=nothing_to_add) == without
    bm25 = Retriever(store, mode="bm25")  # no vectors: the question adds nothing
    assert pages(bm25, 3) == pages(bm25, 3, question=None)
    assert "finger" not in pages(Retriever(store, mode="vector", question_weight=0.0), 3)
    assert "finger" in pages(Retriever(store, mode="vector"), 3)
    assert "finger" not in pages(Retriever(store, fusion="rank", question_weight=0.0), 3)
    assert "finger" in pages(Retriever(store, fusion="rank"), 3)
    assert "finger" not in pages(Retriever(store, plain=True), 3)  # the notebook+RRF baseline stays plain
