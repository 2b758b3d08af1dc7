"""The loader against a real HTTP server on loopback: pages, crawls and every failure case."""

import threading
import time

import pytest

from rag.errors import Cancelled, FetchError, InputError
from rag.loading.crawl import page_key
from rag.loading.fetch import FetchConfig, Fetcher
from rag.loading.loader import WebLoader, read_urls_file, to_url
from rag.loading.urlpolicy import check_url

PAGES = [
    "index.html",
    "gemma.html",
    "ollama.html",
    "cloud-run-gpu.html",
    "deploy.html",
    "security.html",
    "rag.html",
]


def load(site, paths, **config):
    loader = WebLoader(FetchConfig(**config))
    return {r.url.rsplit("/", 1)[-1]: r for r in loader.load([f"{site.url}/{p}" for p in paths])}


def test_many_urls_load_concurrently_with_titles_and_anchored_sources(site):
    site.handler.delay = 0.3
    import time

    started = time.perf_counter()
    results = load(site, PAGES, concurrency=8)
    elapsed = time.perf_counter() - started
    assert all(r.ok for r in results.values())
    assert elapsed < 0.3 * len(PAGES) / 2  # concurrent, not one after the other
    gemma = results["gemma.html"]
    assert gemma.title == "Gemma models \u2014 Workshop guide"
    sources = {d.metadata["source"] for d in gemma.documents}
    assert f"{site.url}/gemma.html#quantization" in sources
    assert all("Written for the workshop app" not in d.page_content for d in gemma.documents)


@pytest.mark.parametrize(
    ("path", "reason", "words"),
    [
        ("missing.html", "http-404", "404 Not Found"),
        ("broken.html", "http-500", "500 Internal Server Error"),
        ("loop-a.html", "redirect-loop", "redirects in a loop"),
        ("report.pdf", "unsupported-type", "application/pdf"),
        ("logo.png", "unsupported-type", "image/png"),
        ("huge.html", "too-large", "cap"),
        ("empty.html", "empty", "no readable text"),
        ("slow.html", "timeout", "longer than 1 s"),
    ],
)
def test_each_failure_is_reported_with_its_reason_while_the_rest_load(site, path, reason, words):
    results = load(site, [path, "gemma.html"], max_bytes=100_000, timeout=1.0)
    failed = results[path]
    assert not failed.ok and failed.error.reason == reason
    assert words in str(failed.error)
    assert results["gemma.html"].ok


def test_unreachable_host_names_the_host():
    loader = WebLoader(FetchConfig(timeout=2))
    [result] = loader.load(["http://127.0.0.1:9/page.html"])
    assert result.error.reason == "unreachable"
    assert "127.0.0.1:9" in str(result.error) and "connection refused" in str(result.error)


def test_malformed_html_and_missing_content_type_still_index(site):
    results = load(site, ["malformed.html", "no-type", "moved.html"])
    assert results["malformed.html"].ok
    assert "Text after the mess survives." in " ".join(
        d.page_content for d in results["malformed.html"].documents
    )
    assert results["no-type"].ok
    moved = results["moved.html"]
    assert moved.ok and moved.documents[0].metadata["url"].endswith("/gemma.html")  # the final URL


def test_crawl_follows_links_within_scope_and_respects_max_pages(site):
    loader = WebLoader(FetchConfig())
    results = list(loader.load(crawl=f"{site.url}/index.html", max_pages=4))
    assert len(results) == 4 and all(r.ok for r in results)
    full = list(WebLoader(FetchConfig()).load(crawl=f"{site.url}/index.html", max_pages=50))
    assert sorted(r.url.rsplit("/", 1)[-1] for r in full) == sorted(PAGES)


def test_crawl_uses_the_sitemap_and_honours_robots(site):
    from tests.servers.site import reply

    sitemap = (
        '<?xml version="1.0" encoding="UTF-8"?><urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">'
        f"<url><loc>{site.url}/security.html</loc></url><url><loc>{site.url}/gemma.html</loc></url>"
        f"<url><loc>{site.url}/ollama.html</loc></url><url><loc>http://elsewhere.test/x.html</loc></url>"
        "</urlset>"
    ).encode()
    robots = f"User-agent: *\nDisallow: /security.html\nSitemap: {site.url}/map.xml\n".encode()
    site.handler.extra["/map.xml"] = reply(200, sitemap, "application/xml")
    site.handler.extra["/robots.txt"] = reply(200, robots, "text/plain")
    loader = WebLoader(FetchConfig())
    results = list(loader.load(crawl=f"{site.url}/index.html", max_pages=10))
    urls = sorted(r.url.rsplit("/", 1)[-1] for r in results if r.ok)
    assert "gemma.html" in urls and "ollama.html" in urls
    assert "security.html" not in urls  # disallowed by robots.txt, and not linked past it
    assert not any("elsewhere" in r.url for r in results)
    assert "/map.xml" in site.hits
    blocked = [r for r in results if not r.ok and r.error.reason == "robots"]
    assert [r.url.rsplit("/", 1)[-1] for r in blocked] == ["security.html"]


def test_sitemap_entries_that_are_no_address_cost_those_entries_not_the_crawl(site):
    from tests.servers.site import reply

    bad = ("http://[user@]machine/x.html", "http://127.0.0.1:99999/x.html", "http://h:abc/")
    entries = "".join(f"<url><loc>{loc}</loc></url>" for loc in (*bad, f"{site.url}/gemma.html"))
    sitemap = (
        f'<?xml version="1.0"?><urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">{entries}</urlset>'
    )
    site.handler.extra["/map.xml"] = reply(200, sitemap.encode(), "application/xml")
    site.handler.extra["/robots.txt"] = reply(200, f"Sitemap: {site.url}/map.xml\n".encode(), "text/plain")
    results = list(WebLoader(FetchConfig()).load(crawl=f"{site.url}/index.html", max_pages=10))
    assert "/map.xml" in site.hits
    assert any(r.ok and r.url.endswith("/gemma.html") for r in results)


def test_a_base_href_that_is_no_address_leaves_links_read_against_the_page(site):
    from tests.servers.site import reply

    body = f"<p>{'Words. ' * 40}</p><p>See <a href='gemma.html'>the Gemma page</a>.</p>"
    html = f"<html><head><base href='http://[broken'></head><body><h1>Base</h1>{body}</body></html>"
    site.handler.extra["/base.html"] = reply(200, html.encode())
    [result] = WebLoader(FetchConfig()).load([f"{site.url}/base.html"])
    assert result.ok and f"{site.url}/gemma.html" in result.links


def test_pages_disallowed_by_robots_do_not_use_up_the_page_limit(site):
    from tests.servers.site import reply

    # No sitemap: the crawl follows index.html's links, the first of which is disallowed.
    site.handler.extra["/robots.txt"] = reply(200, b"User-agent: *\nDisallow: /gemma.html\n", "text/plain")
    results = list(WebLoader(FetchConfig()).load(crawl=f"{site.url}/index.html", max_pages=3))
    assert [r.url.rsplit("/", 1)[-1] for r in results if not r.ok] == ["gemma.html"]
    assert sum(r.ok for r in results) == 3  # index.html and two more: the refusal did not count


def test_hosted_mode_refuses_loopback_private_and_metadata_addresses():
    for url in (
        "http://127.0.0.1:8080/",
        "http://localhost/",
        "http://10.1.2.3/",
        "http://192.168.0.1/",
        "http://169.254.169.254/computeMetadata/v1/",
        "http://[::1]/",
    ):
        with pytest.raises(FetchError) as caught:
            check_url(url, allow_private=False)
        assert caught.value.reason == "private-address", url
    check_url("http://8.8.8.8/", allow_private=False)  # public addresses pass without DNS
    with pytest.raises(FetchError):
        check_url("ftp://example.com/file", allow_private=True)


def test_hosted_mode_rechecks_every_redirect_hop(site, monkeypatch):
    """A public page that redirects into the private network is refused at the redirect."""
    import ipaddress

    from tests.servers.hostile import HostileServer

    real = ipaddress.IPv4Address.__dict__["is_global"].fget
    monkeypatch.setattr(  # 127.0.0.2 plays a public host; 127.0.0.1 stays private
        ipaddress.IPv4Address, "is_global", property(lambda self: str(self) == "127.0.0.2" or real(self))
    )
    fetcher = Fetcher(FetchConfig(allow_private=False))
    with HostileServer("127.0.0.2") as public:
        assert fetcher.get(f"{public.url}/page").is_html  # the "public" host itself is fine
        with pytest.raises(FetchError) as caught:
            fetcher.get(f"{public.url}/redirect?to={site.url}/gemma.html")
    assert caught.value.reason == "private-address"
    assert "/gemma.html" not in site.hits  # never fetched


def test_local_files_and_url_lists(tmp_path):
    page = tmp_path / "notes.md"
    page.write_text("# Notes\nCloud Run GPUs need quota.\n")
    urls = tmp_path / "urls.txt"
    urls.write_text(f"# a comment\n\n{page}\n")
    sources = [to_url(s) for s in read_urls_file(str(urls))]
    [result] = WebLoader(FetchConfig()).load(sources)
    assert result.ok and result.title == "Notes"
    with pytest.raises(InputError):
        to_url(str(tmp_path / "nope.html"))
    with pytest.raises(InputError):
        read_urls_file(str(tmp_path / "missing.txt"))
    [refused] = WebLoader(FetchConfig(allow_files=False)).load(sources)
    assert not refused.ok and "Local files" in str(refused.error)


def test_cancel_stops_the_load(site):
    site.handler.delay = 0.2
    cancel = threading.Event()
    loader = WebLoader(FetchConfig(concurrency=2))
    seen = []
    with pytest.raises(Cancelled):
        for result in loader.load([f"{site.url}/{p}" for p in PAGES], cancel=cancel):
            seen.append(result)
            cancel.set()
    assert len(seen) < len(PAGES)


def test_a_page_of_links_is_reported_but_its_links_are_still_crawled(site):
    from tests.servers.site import reply

    links = "".join(f'<li><a href="/{p}">{p} page title here</a></li>' for p in PAGES[1:])
    site.handler.extra["/toc.html"] = reply(
        200, f"<html><body><h1>Contents</h1><ul>{links}</ul></body></html>".encode()
    )
    results = list(WebLoader(FetchConfig()).load(crawl=f"{site.url}/toc.html", max_pages=20))
    toc = next(r for r in results if r.url.endswith("toc.html"))
    assert toc.error.reason == "links-only" and "list of links" in str(toc.error)
    assert sorted(r.url.rsplit("/", 1)[-1] for r in results if r.ok) == sorted(PAGES)  # found through it


def test_a_folder_and_its_index_file_are_one_page(site):
    """Issue 10: a crawl indexed /tutorial/ and /tutorial/index.html as two pages."""
    from tests.servers.site import reply

    site.handler.extra["/start.html"] = reply(
        200,
        b'<html><body><h1>Start</h1><p><a href="/">Home</a> <a href="/index.html">Home again</a> '
        b'<a href="/index.html#top">and again</a></p><p>' + b"Words. " * 40 + b"</p></body></html>",
    )
    results = list(WebLoader(FetchConfig()).load(crawl=f"{site.url}/start.html", max_pages=50))
    homes = [r.url for r in results if page_key(r.url) == page_key(f"{site.url}/")]
    assert len(homes) == 1, homes
    listed = list(WebLoader(FetchConfig()).load([f"{site.url}/", f"{site.url}/index.html"]))
    assert len(listed) == 1


def test_a_page_reads_as_its_url_was_given_and_both_spellings_are_one_page(site):
    """A space in a path is sent %-encoded, but the page's URL and sources keep the spelling
    they were asked by: the notebook's loader keeps it too, and a script matches sources
    against the URLs it listed. "a b.html" and "a%20b.html" are one page."""
    from tests.servers.site import reply

    body = b"<html><body><h1 id='top'>Two words</h1><p>" + b"Words in a page. " * 30 + b"</p></body></html>"
    site.handler.extra["/two%20words.html"] = reply(200, body)
    given = f"{site.url}/two words.html"
    listed = list(WebLoader(FetchConfig()).load([given, f"{site.url}/two%20words.html"]))
    assert len(listed) == 1 and listed[0].ok
    assert {d.metadata["url"] for d in listed[0].documents} == {given}
    assert {d.metadata["source"] for d in listed[0].documents} == {f"{given}#top"}
    assert "/two%20words.html" in site.handler.hits
    from rag.loading.crawl import Scope

    assert "http://h/my%20docs/x.html" in Scope("http://h/my docs/index.html")  # one folder
    assert "http://h/my docs/x.html" in Scope("http://h/my%20docs/")
    assert page_key("http://h/s?q=a b") == page_key("http://h/s?q=a%20b")
    marked = next(iter(WebLoader(FetchConfig()).load([f"{given}#top"])))
    assert {d.metadata["source"] for d in marked.documents} == {f"{given}#top"}  # not "#top#top"


def test_a_busy_answer_is_asked_again_within_the_deadline_and_nothing_else_is(site):
    """A site that throttles a burst (429, 503) costs time, not pages; a 404 is asked once,
    and a page that stays busy fails with its status, before its deadline."""
    from tests.servers.site import reply

    def busy_then_ok(status: int, busy: int, wait: str = "0"):
        answers = [reply(status, b"busy", Retry_After=wait)] * busy + [reply(200, _words(b"Back again"))]

        def route(handler):
            answer = answers.pop(0) if len(answers) > 1 else answers[0]
            answer(handler)

        return route

    site.handler.extra["/throttled.html"] = busy_then_ok(429, 1)
    site.handler.extra["/restarting.html"] = busy_then_ok(503, 2)
    site.handler.extra["/down.html"] = reply(503, b"down")
    pages = ["throttled.html", "restarting.html", "missing.html", "down.html"]
    results = load(site, pages, timeout=5.0, busy_waits=(0.05, 0.05))
    assert results["throttled.html"].ok and results["restarting.html"].title == "Back again"
    assert results["missing.html"].error.reason == "http-404"
    assert results["down.html"].error.reason == "http-503"
    assert [site.handler.hits.count(f"/{p}") for p in pages] == [2, 3, 1, 3]

    site.handler.extra["/patient.html"] = busy_then_ok(429, 1, wait="1")  # Retry-After: 1 second
    started = time.perf_counter()
    assert load(site, ["patient.html"], busy_waits=(0.05,))["patient.html"].ok
    assert time.perf_counter() - started >= 1.0


def test_a_busy_page_stops_before_a_pause_would_pass_its_deadline(site, monkeypatch):
    from tests.servers.site import reply

    monkeypatch.setattr("rag.loading.fetch.random.uniform", lambda a, b: 1.0)  # no jitter
    site.handler.extra["/down.html"] = reply(503, b"down")
    started = time.perf_counter()
    quick = load(site, ["down.html"], timeout=1.0)["down.html"]  # the default pauses: 0.5, 1, 2, 4 s
    assert quick.error.reason == "http-503" and time.perf_counter() - started < 1.0
    assert site.handler.hits.count("/down.html") == 2  # the 1 s pause would pass the deadline


def test_a_site_that_only_answers_busy_fails_fast_instead_of_waiting_out_every_pause(site):
    """A site that is down behind its proxy (503 for every page) is not throttling."""
    from tests.servers.site import reply

    pages = [f"down{i}.html" for i in range(40)]
    for p in pages:
        site.handler.extra[f"/{p}"] = reply(503, b"down")
    started = time.perf_counter()
    results = load(site, pages)
    assert {r.error.reason for r in results.values()} == {"http-503"}
    assert time.perf_counter() - started < 15  # each page waiting out its pauses: about 40 s
    assert len(site.handler.hits) < 80


def test_a_throttling_site_loses_no_page_the_workers_slow_down_together(tmp_path):
    """Beyond 3 requests a second the site answers 429; 8 workers share the pauses."""
    from tests.servers.site import SiteServer

    for i in range(12):
        (tmp_path / f"p{i}.html").write_bytes(_words(b"Page %d" % i))
    with SiteServer(tmp_path, per_second=3) as server:
        loaded = list(WebLoader(FetchConfig()).load([f"{server.url}/p{i}.html" for i in range(12)]))
        assert all(r.ok for r in loaded), [str(r.error) for r in loaded if r.error]
        assert len(server.hits) < 40  # a pause holds every worker, not just the refused one


def _words(title: bytes) -> bytes:
    return b"<html><body><h1>" + title + b"</h1><p>" + b"Words in a page. " * 30 + b"</p></body></html>"


def test_a_page_reached_again_through_a_redirect_is_a_duplicate(site):
    results = load(site, ["gemma.html", "moved.html"])  # moved.html redirects to gemma.html
    assert sorted(r.ok for r in results.values()) == [False, True]
    duplicate = next(r for r in results.values() if not r.ok)
    assert duplicate.error.reason == "duplicate" and "same page" in str(duplicate.error)


def test_a_meta_refresh_stub_is_reported_as_a_redirect_and_a_crawl_follows_it(site):
    """Texinfo writes a stub page per index entry ("The node you are looking for is at ..."):
    2356 of Octave's 2863 pages. They are not indexed as text; a crawl goes where they point."""
    from tests.servers.site import reply

    stub = (
        f'<html><head><meta http-equiv="Refresh" content="0; url=/{PAGES[0]}#XREFfoo"></head><body>'
        f'<p>The node you are looking for is at <a href="/{PAGES[0]}#XREFfoo">XREFfoo</a>.</p></body></html>'
    )
    site.handler.extra["/XREFfoo.html"] = reply(200, stub.encode())
    slow = "<p>" + "A page that reloads itself every minute still has text to index. " * 5 + "</p>"
    site.handler.extra["/news.html"] = reply(
        200, f'<html><head><meta http-equiv="refresh" content="60"></head><body>{slow}</body></html>'.encode()
    )
    results = load(site, ["XREFfoo.html", "news.html"])
    stub_result, news = results["XREFfoo.html"], results["news.html"]
    assert stub_result.error.reason == "redirect" and f"/{PAGES[0]}" in str(stub_result.error)
    assert news.ok and "still has text to index" in news.documents[0].page_content
    crawled = list(WebLoader(FetchConfig()).load(crawl=f"{site.url}/XREFfoo.html", max_pages=1 + len(PAGES)))
    assert any(r.ok and r.url.endswith(PAGES[0]) for r in crawled)


def test_a_link_with_a_port_out_of_range_is_skipped_not_the_end_of_the_crawl(site):
    from tests.servers.site import reply

    links = "".join(f'<p>See <a href="/{p}">the {p} page</a> for more about it.</p>' for p in PAGES)
    bad = '<p>And <a href="http://127.0.0.1:99999/x.html">a broken address</a> in the middle.</p>'
    site.handler.extra["/start.html"] = reply(
        200, f"<html><body><h1>Start</h1><p>{'Words. ' * 40}</p>{bad}{links}</body></html>".encode()
    )
    results = list(WebLoader(FetchConfig()).load(crawl=f"{site.url}/start.html", max_pages=50))
    assert {r.url.rsplit("/", 1)[-1] for r in results if r.ok} >= set(PAGES)


def test_a_link_that_is_no_address_costs_that_link_not_the_page(site):
    """Vim's help writes "ftp://[user@]machine/path" as a link: urljoin raises on it."""
    from tests.servers.site import reply

    links = "".join(f'<p>See <a href="/{p}">the {p} page</a> for more about it.</p>' for p in PAGES)
    bad = '<p>Edit <a href="ftp://[user@]machine[[:port]/path">ftp://[user@]machine/path</a> at once.</p>'
    site.handler.extra["/netrw.html"] = reply(
        200, f"<html><body><h1>Netrw</h1><p>{'Words. ' * 40}</p>{bad}{links}</body></html>".encode()
    )
    [result] = WebLoader(FetchConfig()).load([f"{site.url}/netrw.html"])
    assert result.ok and "Edit ftp://[user@]machine/path at once." in result.documents[0].page_content
    assert {link.rsplit("/", 1)[-1] for link in result.links} >= set(PAGES)
    crawled = list(WebLoader(FetchConfig()).load(crawl=f"{site.url}/netrw.html", max_pages=50))
    assert {r.url.rsplit("/", 1)[-1] for r in crawled if r.ok} >= set(PAGES)


def test_a_redirect_to_no_address_is_reported(site):
    from tests.servers.site import reply

    site.handler.extra["/moved.html"] = reply(302, Location="http://[user@]elsewhere/")
    [result] = WebLoader(FetchConfig()).load([f"{site.url}/moved.html"])
    assert result.error.reason == "bad-response" and "which is no address" in result.error.message


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        # labelled Latin-1, written in UTF-8 (Vim's ft_raku.html): read as UTF-8
        (
            "\u00ab Raku \u00bb \u2264 \u269b \u00e9t\u00e9 ".encode() * 40,
            "\u00ab Raku \u00bb \u2264 \u269b \u00e9t\u00e9",
        ),
        # labelled Latin-1, with windows-1252's quotes and dashes (0x80-0x9F): read as browsers do
        (b"\x93quoted\x94 \x96 dash, caf\xe9 " * 40, "\u201cquoted\u201d \u2013 dash, caf\u00e9"),
    ],
)
def test_a_page_labelled_latin_1_is_read_as_browsers_and_its_bytes_say(site, body, expected):
    from tests.servers.site import reply

    head = b'<html><head><meta http-equiv="Content-type" content="text/html; charset=ISO-8859-1">'
    site.handler.extra["/labelled.html"] = reply(
        200, head + b"</head><body><h1>Page</h1><p>" + body + b"</p></body></html>"
    )
    [result] = WebLoader(FetchConfig()).load([f"{site.url}/labelled.html"])
    assert result.ok, result.error
    assert expected in result.documents[0].page_content
