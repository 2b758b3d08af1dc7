"""Which retrieved URL is a gold page: a gold path below the docs root, not a deeper page whose
path only ends the same way (Sphinx's `_modules/tornado/web.html` for `web.html`)."""

from __future__ import annotations

from rag.evaluation import Question, evaluate, is_gold, site_root

SITE = "http://127.0.0.1:8000"


def ranked(questions: list[Question], urls: list[str]) -> list[int | None]:
    report = evaluate(questions, lambda q: urls)
    return [row["rank"] for row in report["questions"]]  # type: ignore[index]


def test_a_deeper_page_ending_in_a_gold_path_is_not_gold() -> None:
    urls = [f"{SITE}/_modules/tornado/web.html", f"{SITE}/guide/security.html", f"{SITE}/web.html"]
    assert ranked([Question("q1", "How?", gold=["web.html"])], urls) == [3]
    assert ranked([Question("q1", "How?", gold=["_modules/tornado/web.html"])], urls) == [1]


def test_the_root_is_the_directory_every_url_shares() -> None:
    docs = f"{SITE}/docs/3"
    urls = [f"{docs}/library/re.html", f"{docs}/library/os.html", f"{docs}/tutorial/index.html"]
    assert site_root(urls) == "/docs/3/"
    assert ranked([Question("q1", "Which?", gold=["library/os.html"])], urls) == [2]
    # gold written from a directory above the shared one still names the page
    assert ranked([Question("q1", "Which?", gold=["3/tutorial/index.html"])], urls) == [3]
    assert ranked([Question("q1", "Which?", gold=["re.html"])], urls) == [None]


def test_without_a_root_any_directory_is_allowed() -> None:
    assert is_gold(f"{SITE}/_modules/tornado/web.html", ["web.html"])
    assert not is_gold(f"{SITE}/_modules/tornado/web.html", ["web.html"], "/")
    assert is_gold(f"{SITE}/a%20b.html", ["a b.html"], "/")
    assert site_root(["", f"{SITE}/x/y.html"]) == "/x/"
