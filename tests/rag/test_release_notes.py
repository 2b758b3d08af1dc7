"""Release notes found by their headings where neither path nor title names them."""

import time
from concurrent.futures import ThreadPoolExecutor

import pytest
from langchain_core.documents import Document

from rag import retrieval
from rag.release_notes import (
    ASKS_WHAT_CHANGED,
    IDENTIFIERS_MAX,
    QUOTED_MAX,
    by_headings,
    is_release_notes,
    is_version_heading,
    named_identifiers,
    quoted_spans,
    release_notes_pages,
    words_of,
)
from rag.retrieval import Retriever
from rag.store import SKLearnStore


def test_version_headings_in_the_forms_manuals_write_them():
    versions = [
        "Version 3.1.2",  # Jinja, Click, Flask
        "Version 3.1.2\u00b6",  # with Sphinx's permalink mark
        "2.28.1 (2022-06-29)",  # Requests
        "v66.1.0",  # setuptools
        "2015-10-16 - Release 3.9.1",  # SQLite's news
        "2004-07-22 - Version 3.0.3 (beta)",
        "[1.0.0] - 2017-06-20",  # Keep a Changelog
        "1.0.0 / 2017-06-20",
        "Changes in version 1.2",
        "What's new in 3.12",
        "2.0.0 beta 1",
        "1.2.3 - TBD",
        "Version 2.2.0 - Released 2022-08-01",
        "2022-06-29",
        "10.2. Version 4.6.2",  # Debian Policy's upgrading checklist: numbered sections
        "A.3 Release 2.1",
    ]
    for heading in versions:
        assert is_version_heading(heading), heading
    # the product's name before the number counts when the page's title says it
    assert is_version_heading("lxml 4.9.2 (2022-12-13)", "lxml changelog")
    assert is_version_heading("Flask 2.2.2", "Changes \u2014 Flask Documentation (2.2.x)")
    prose = [
        "16.2.4 History",  # a numbered section
        "1.2 Simple Examples",
        "Step 1.2",  # a tutorial's steps, a cookbook's recipes, a figure
        "Steps 1.1",
        "Recipe 1.2",
        "Fig. 3.1",
        "TLS 1.3",
        "Released 2022-08-08",
        "dev",
        "Installing on Python 3.11 and later",
        "",
        "10.2. History",  # a numbered section that is not a version
        "3.1 Step 1.2",
        "A 1.0",  # a one-letter word is no section number
        "I 2.0",
    ]
    for heading in prose:
        assert not is_version_heading(heading), heading
    assert not is_version_heading("Python 3.11", "Supported versions")  # not the product's own


def test_a_hostile_heading_is_not_read_past_a_few_words():
    import time

    hostile = ["1.1" + "1" * 100_000 + "!", "1." * 50_000 + "!", "a " * 50_000, "#" * 100_000 + "x"]
    started = time.monotonic()
    assert not any(is_version_heading(heading) for heading in hostile)
    assert not by_headings(hostile * 3)
    assert time.monotonic() - started < 1.0


def test_a_page_is_release_notes_when_most_of_its_headings_are_versions():
    history = [
        "Community Updates",
        "Community Updates \u203a GitHub",
        "Community Updates \u203a Release History",
        *(f"Community Updates \u203a Release History \u203a 2.{n}.0 (2022-0{n}-01)" for n in range(1, 8)),
    ]
    assert by_headings(history)
    # the same subsections under every version count once
    setuptools = [f"History \u203a v66.{n}.0 \u203a {part}" for n in range(4) for part in ("Changes", "Misc")]
    assert by_headings(setuptools)
    assert not by_headings(["Installing", "Installing \u203a Python 3.11", "Installing \u203a Python 3.10"])
    assert not by_headings(["Upgrading \u203a 1.0", "Upgrading \u203a 2.0"])  # too few to tell
    tutorial = [f"Tutorial \u203a Step {n}.{m}" for n in range(1, 4) for m in range(1, 4)]
    assert not by_headings(tutorial)
    # numbered sections: the Debian Policy's checklist, and a manual's numbered chapter
    checklist = ["10. Upgrading checklist \u203a 10.1. About the checklist"]
    checklist += [f"10. Upgrading checklist \u203a 10.{n}. Version 4.{8 - n}.0" for n in range(2, 8)]
    assert by_headings(checklist, "10. Upgrading checklist \u2014 Debian Policy Manual v4.6.2.0")
    parts = ("Names", "Versions", "Rules")
    chapter = [f"3. Binary packages \u203a 3.{n}. {part}" for n, part in enumerate(parts)]
    assert not by_headings(chapter, "3. Binary packages \u2014 Debian Policy Manual v4.6.2.0")
    assert not by_headings([])
    # Cyrus IMAP's changes: its whole title before each version (thirty-third round)
    title = "Changes to the Cyrus IMAP Server"
    cyrus = [f"{title} since 2.4.{n}" for n in range(8, 18)] + ["Changes in 3.0.0-beta2 \u203a Major changes"]
    assert by_headings(cyrus, title)
    assert not by_headings(cyrus, "Cyrus IMAP Server")  # "Changes to the" are not its words
    guide = [f"Installing the Cyrus server on Debian {n}.0" for n in (10, 11, 12)]
    assert not by_headings(guide, title)  # "installing", "on" and "debian" are not its words


def _docs(pages: dict[str, tuple[str, list[tuple[str, str]]]]) -> list[Document]:
    return [
        Document(
            text,
            metadata={
                "url": f"http://d/{page}",
                "source": f"http://d/{page}#{i}",
                "title": title,
                "heading": heading,
            },
        )
        for page, (title, sections) in pages.items()
        for i, (heading, text) in enumerate(sections)
    ]


def test_release_history_that_its_path_and_title_do_not_name_comes_after_the_feature_page(local_embeddings):
    """Requests keeps its release history in "Community Updates" (community/updates.html):
    found by its headings, it steps back for a feature question and still answers one
    about what changed."""
    updates = [
        (
            "Community Updates \u203a Release History \u203a 2.28.0 (2022-06-09)",
            "Added a timeout parameter to retry sessions with backoff.",
        ),
        (
            "Community Updates \u203a Release History \u203a 2.27.0 (2022-01-03)",
            "Sessions now send proxies from the environment.",
        ),
        (
            "Community Updates \u203a Release History \u203a 2.26.0 (2021-07-13)",
            "Connection timeouts raise ConnectTimeout.",
        ),
    ]
    pages = {
        "community/updates.html": ("Community Updates", updates),
        "user/advanced.html": (
            "Advanced Usage",
            [
                (
                    "Advanced Usage \u203a Timeouts",
                    "Pass timeout= to stop waiting for a server that never answers.",
                )
            ],
        ),
        "user/quickstart.html": (
            "Quickstart",
            [("Quickstart \u203a Cookies", "Cookies sent by the server are in response.cookies.")],
        ),
    }
    docs = _docs(pages)
    assert not is_release_notes("http://d/community/updates.html", "Community Updates")
    grouped = {
        f"http://d/{p}": [i for i, d in enumerate(docs) if d.metadata["url"] == f"http://d/{p}"]
        for p in pages
    }
    assert release_notes_pages(docs, grouped) == {"http://d/community/updates.html"}
    store = SKLearnStore(local_embeddings, "local:all-MiniLM-L6-v2")
    store.add_vectors(docs, local_embeddings.encode([d.page_content for d in docs]))
    urls = [h.document.metadata["url"] for h in Retriever(store).search("connection timeouts", k=3)]
    assert urls[0] == "http://d/user/advanced.html" and urls[-1] == "http://d/community/updates.html"
    plain = [
        h.document.metadata["url"] for h in Retriever(store, plain=True).search("connection timeouts", k=3)
    ]
    assert plain[0] == "http://d/community/updates.html"  # where its match alone puts it
    changed = Retriever(store).search("What changed in 2.26.0 about connection timeouts?", k=3)
    assert changed[0].document.metadata["url"] == "http://d/community/updates.html"


def test_a_page_named_history_is_release_notes_only_if_it_prints_a_version_or_a_year():
    """cmd2's features/history.html is titled "History" and is about the history command: it
    prints no version and no year, so it is a feature page; pytest's and Eventlet's history
    pages (a project's story, dated) and a changelog stay release notes."""
    command = [
        (
            "History \u203a For Users",
            "Use the up and down arrow keys to move through previously entered commands.",
        ),
        (
            "History \u203a For Developers",
            "readline saves everything you type; cmd2 saves a command to its history only if it parses.",
        ),
    ]
    story = [("History", "Eventlet began life in 2006 as a talk about coroutine-based servers.")]
    changes = [("Changes", "- Added a --json option."), ("Changes", "- Fixed a crash in 2.1 on empty input.")]
    pages = {
        "features/history.html": ("History \u2014 cmd2 2.4.1 documentation", command),
        "history.html": ("History \u2014 Eventlet 0.33.1 documentation", story),
        "CHANGES.html": ("Changes", changes),
        "features/settings.html": ("Settings", [("Settings", "Set allow_style to Never.")]),
    }
    docs = _docs(pages)
    grouped = {
        f"http://d/{p}": [i for i, d in enumerate(docs) if d.metadata["url"] == f"http://d/{p}"]
        for p in pages
    }
    assert release_notes_pages(docs, grouped) == {"http://d/history.html", "http://d/CHANGES.html"}
    assert is_release_notes("http://d/features/history.html", "History")  # the name and title alone
    assert not is_release_notes("http://d/features/history.html", "History", [text for _, text in command])
    # a path or title that says release notes needs no date
    assert is_release_notes("http://d/whatsnew/index.html", "Overview", ["Nothing dated here."])


def test_quoted_spans_are_the_messages_a_question_quotes():
    question = (
        "I get 'Attempting to work in a virtualenv. If you encounter problems, please install "
        "IPython inside the virtualenv.' and \"database is locked\" but it doesn't \u2018say why\u2019; "
        "a \u201cdatabase is busy again\u201d, then \"Can't connect to local server\" and 'ok'."
    )
    assert quoted_spans(question) == [
        " attempting to work in a virtualenv if you encounter problems please install ipython inside the"
        " virtualenv ",
        " database is locked ",
        " database is busy again ",
        " can t connect to local server ",
    ]  # "say why" is two words, "ok" one; the apostrophe in "doesn't" opens nothing
    assert quoted_spans("It doesn't work and I don't know why") == []
    # words as typed: a name or a flag is one word, however many parts it has
    assert quoted_spans("'segmentation fault' from \"os.path.join\" and '--use-feature=fast-deps'") == []
    assert quoted_spans("'the same three words' and 'The same three words.'") == [" the same three words "]


@pytest.mark.parametrize(
    ("read", "question", "most", "first"),
    [
        (
            quoted_spans,
            " ".join(f"'a quoted message number {n}'" for n in range(4000)) + "x" * 5000,
            QUOTED_MAX,
            " a quoted message number 0 ",
        ),
        (
            named_identifiers,
            " ".join(f"pkg.module{n}.Name{n}" for n in range(20000)) + "_" * 20000,
            IDENTIFIERS_MAX,
            " pkg module0 name0 ",
        ),
    ],
)
def test_a_hostile_question_is_read_in_linear_time_and_looked_for_a_few_times(read, question, most, first):
    """Quotes and names alike: each is looked for in every release note, so a few at most."""
    started = time.perf_counter()
    found = read(question)
    assert time.perf_counter() - started < 2.0  # linear: ~0.1 s here
    assert len(found) == most and found[0] == first


def test_a_hostile_word_is_no_name_and_is_read_in_linear_time():
    started = time.perf_counter()
    assert named_identifiers("a" * 200_000 + " " + "9." * 100_000 + " " + "_" * 200_000) == []
    assert len(named_identifiers("b." * 100_000)) == 1  # one dotted name, however long
    assert time.perf_counter() - started < 2.0


def test_a_question_that_tells_of_a_version_change_asks_what_changed():
    for question in (
        "It was loaded with older versions. Was that changed on purpose?",
        "This worked in previous releases",
        "After updating ImageMagick, a fixed -seed gives other images",
        "after we updated to 3.2 the command fails",
        "It stopped working after we moved to Slurm 22.05",
        "We switched to version 2.1 last week",
        "The pool ran out of connections. Which psycopg_pool release fixed that?",
        "Can libvirt 9.0 still use it, and if not, in which release was that dropped?",
        "What version added the --preview flag?",
        "What is the new spelling, and in which pexpect release did it change?",
        "Which version of h5py fixed the leak, and which version was it fixed in?",
        "Which module replaced gevent.coros, and in which release series was it removed?",
        "What release line first added it?",
        "After moving from WTForms 2 to 3, an empty optional field gives None. Was that intentional?",
        "We are porting from Django 3.2 to 4.0",
        "switching from 1.1 to 1.2 broke the build",
        "configure rejects --with-cyrus-prefix. What replaced it?",
        "What replaces the old hook in 3.9?",
        "It calls import FOO. In which release did it go away?",
        "Which version did the option disappear in?",
        "Was queuing always on? In which release did it become the default?",
        "The compiler says that function is undeclared. What was it called before?",
        "Older crmsh versions used pssh, newer ones want parallax. Why was that switched?",
        "Does crmsh ship a failure simulator, and since which release?",
        "Since which pip version is that no longer supported?",
    ):
        assert ASKS_WHAT_CHANGED.search(question), question
    for question in (
        "Browsers keep showing old versions of my CSS after I deploy",
        "Create an AFTER UPDATE trigger that sets updated_at",
        "We moved to a new server; how do I copy the database?",
        "How do I restore a previous version of a file?",
        "Which hook runs after updating a model instance?",
        "How do I reload the config after updating it?",
        "Memory went to 3.2 GB during the import",
        "We switched to a 2.5 GB memory limit",
        "Which Python versions are supported?",
        "Which version should I add to my requirements?",
        "What version did you install, and which one did you try first?",
        "Which Python versions are added to target_versions when none is given?",
        "What version string is added to the User-Agent header?",
        "Which method releases connections dropped by the server?",
        "What release process do maintainers follow when a bug is fixed?",
        "Which release series is supported, and what is fixed there?",
        "Which version line should be added to requirements.txt?",
        "Moving from 2 to 3 workers made the queue slower",
        "I moved from Ubuntu to Debian and the service fails",
        "Switching from 2.4 to 5 GHz made the link drop",
        "Moving from 1.5 to 2 seconds of timeout did not help",
        "How do I replace the default template?",
        "What replacement strings does the format accept?",
        "Which value is replaced by the hostname?",
        "Why did the warning go away after a restart?",
        "The icon did disappear when I resized the window",
        "Which version did you become familiar with first?",
        "What was it called before the page reloaded?",
        "What is it called before the request is sent?",
        "Since which line of the file does it read?",
        "How do I keep older drafts of my release checklist?",
    ):
        assert not ASKS_WHAT_CHANGED.search(question), question


WARNING = "Attempting to work in a virtualenv. If you encounter problems, please install IPython inside"
NOTES = "http://d/whatsnew/version8.html"
QUOTING = f"Each start in my virtualenv warns '{WARNING} the virtualenv'. How do I stop it?"
UNQUOTED = "Each start in my virtualenv prints a warning about installing IPython. How do I stop it?"


def _ipython_store(local_embeddings) -> SKLearnStore:
    pages = {
        "whatsnew/version8.html": (
            "What's new in IPython 8",
            [
                ("IPython 8.0 \u203a Virtualenv", f"IPython now warns '{WARNING} the virtualenv.' at start."),
                ("IPython 8.0 \u203a Traceback", "Tracebacks now show the failing line and the file name."),
            ],
        ),
        "install/install.html": (
            "Installing IPython",
            [("Installing IPython \u203a pip", "Install IPython in a virtualenv with pip install ipython.")],
        ),
        "interactive/shell.html": (
            "IPython as a system shell",
            [
                (
                    "IPython as a system shell \u203a Environment",
                    "Virtual environments change the shell's PATH.",
                )
            ],
        ),
    }
    store = SKLearnStore(local_embeddings, "local:all-MiniLM-L6-v2")
    docs = _docs(pages)
    store.add_vectors(docs, local_embeddings.encode([d.page_content for d in docs]))
    return store


def test_release_notes_that_print_the_message_a_question_quotes_do_not_step_back(local_embeddings):
    """IPython 8 documents its virtualenv warning only in its "what's new" page: a user who
    quotes the warning is pointing at that page (twenty-ninth round)."""
    retriever = Retriever(_ipython_store(local_embeddings))

    def urls(question: str) -> list[str]:
        return [h.document.metadata["url"] for h in retriever.search(question, k=3)]

    assert urls(QUOTING)[0] == NOTES
    assert urls(UNQUOTED)[-1] == NOTES
    elsewhere = "Each start warns 'Install IPython in a virtualenv with pip' in my virtualenv. Why?"
    assert urls(elsewhere)[-1] == NOTES  # it quotes another page: the notes still step back


def test_sessions_quoting_at_once_on_a_cold_retriever_all_get_the_notes_first(local_embeddings):
    """The notes' words are derived once, on the first quote, and shared by every session:
    sixteen at once, quoting and not, on five fresh retrievers."""
    store = _ipython_store(local_embeddings)
    for _ in range(5):
        retriever = Retriever(store)

        def first(question: str, retriever: Retriever = retriever) -> str:
            return retriever.search(question, k=3)[0].document.metadata["url"]

        with ThreadPoolExecutor(16) as pool:
            firsts = list(pool.map(first, [QUOTING, UNQUOTED] * 8))
        assert firsts[0::2] == [NOTES] * 8 and NOTES not in firsts[1::2]


def test_named_identifiers_are_the_names_a_question_types_as_code():
    question = (
        "Old code imports whoosh.writing.BatchWriter and reads webob.__version__; my Meta has "
        "db_table and related_name, getExif fails, HttpServer too, in 3.5.0, v2.0.1 and 1.2.0b1 "
        "with 1,234.56 (e.g. i.e. x.y.z, a.k.a.), and whoosh.writing.BatchWriter again."
    )
    assert named_identifiers(question) == [
        " whoosh writing batchwriter ",
        " webob __version__ ",
        " db_table ",
        " related_name ",
        " getexif ",
        " httpserver ",
    ]  # a version or a number names nothing; "e.g." and "x.y.z" are under four letters; each once
    assert named_identifiers("How do I make the search box match any of the words?") == []


RENAMED = "http://d/releases/1_0.html"
NAMING = "Some old code of ours uses whoosh.writing.BatchWriter. What is that class called now?"
NAMING_ELSEWHERE = "Some old code of ours uses whoosh.writing.BufferedWriter. What is that class for?"


def _whoosh_store(local_embeddings) -> SKLearnStore:
    pages = {
        "releases/1_0.html": (
            "Whoosh 1.x release notes",
            [
                (
                    "Whoosh 1.0 \u203a Compatibility",
                    "whoosh.writing.BatchWriter is now called whoosh.writing.BufferedWriter; the old "
                    "name still works. whoosh.writing.BufferedWriter flushes every few documents.",
                )
            ],
        ),
        "api/writing.html": (
            "writing module",
            [
                (
                    "writing module \u203a BufferedWriter",
                    "class whoosh.writing.BufferedWriter: a writer that keeps documents in memory "
                    "and commits them in batches, for code that adds a document at a time.",
                )
            ],
        ),
        "batch.html": (
            "Tips for speeding up batch indexing",
            [("Batch indexing \u203a Writers", "Old code and new code both write batches of documents.")],
        ),
    }
    store = SKLearnStore(local_embeddings, "local:all-MiniLM-L6-v2")
    docs = _docs(pages)
    store.add_vectors(docs, local_embeddings.encode([d.page_content for d in docs]))
    return store


def test_release_notes_that_alone_print_a_name_the_question_types_do_not_step_back(local_embeddings):
    """Whoosh documents what became of BatchWriter only in its 1.0 release notes: a user who
    types that name is asking about the one page that prints it (thirty-second round). A
    name other pages print too leaves the notes last."""
    retriever = Retriever(_whoosh_store(local_embeddings))

    def urls(question: str) -> list[str]:
        return [h.document.metadata["url"] for h in retriever.search(question, k=3)]

    assert RENAMED in urls(NAMING)[:-1] and retriever.notes_back(NAMING) == frozenset()
    assert urls(NAMING_ELSEWHERE)[-1] == RENAMED
    assert urls("Which writer commits documents in batches?")[-1] == RENAMED
    # the hub-page signal's searches step the notes back as for a question that names no code
    assert retriever.notes_back(NAMING, with_names=False) == frozenset({RENAMED})


def test_sessions_naming_at_once_on_a_cold_retriever_all_keep_the_notes_in_place(
    local_embeddings, monkeypatch
):
    """The other pages' words are derived once, on the first name some notes print, and
    shared by every session: sixteen at once, on five fresh retrievers."""
    store = _whoosh_store(local_embeddings)
    derived = []

    def counted(text: str) -> str:
        if "keeps documents in memory" in text:  # the other pages' text, not a release note's
            derived.append(text)
        return words_of(text)

    monkeypatch.setattr(retrieval, "words_of", counted)
    for _ in range(5):
        retriever = Retriever(store)

        def last(question: str, retriever: Retriever = retriever) -> str:
            return retriever.search(question, k=3)[-1].document.metadata["url"]

        with ThreadPoolExecutor(16) as pool:
            lasts = list(pool.map(last, [NAMING, NAMING_ELSEWHERE] * 8))
        assert RENAMED not in lasts[0::2] and lasts[1::2] == [RENAMED] * 8
    assert len(derived) == 5  # once a retriever
