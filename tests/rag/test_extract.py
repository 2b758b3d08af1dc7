from rag.loading.extract import MAX_KEYWORDS, extract_html, extract_markdown
from rag.loading.loader import page_documents
from rag.splitting import best_anchor

PAGE = b"""<!DOCTYPE html><html><head><title>Widgets &#8212; Acme docs</title>
<script>var tracking = "do not index me";</script><style>.x{color:red}</style></head>
<body>
<nav class="navbar"><a href="/other.html">Other page</a> Menu text</nav>
<div class="sphinxsidebar">Sidebar text</div>
<div role="main">
  <section id="widgets">
    <h1>Widgets<a class="headerlink" href="#widgets">\xc2\xb6</a></h1>
    <p>Widgets are small.   They   spin.</p>
    <section id="install"><h2>Install</h2>
      <p>Run the installer.</p>
      <pre>pip install widgets
widgets --version</pre>
      <dl><dt id="widgets.spin">widgets.spin(speed)</dt><dd><p>Spin a widget.</p></dd></dl>
      <ul><li><p>first point</p></li><li>second point</li></ul>
      <table><tr><th>Name</th><th>Value</th></tr><tr><td>speed</td><td>3</td></tr></table>
    </section>
  </section>
</div>
<footer class="footer">Copyright footer text</footer>
</body></html>"""


def test_sections_keep_headings_anchors_and_text_but_drop_chrome():
    page = extract_html(PAGE, "http://docs.test/widgets.html")
    assert page.title == "Widgets \u2014 Acme docs"
    headings = [s.heading for s in page.sections]
    assert headings == ["Widgets", "Widgets \u203a Install"]
    assert [s.anchor for s in page.sections] == ["widgets", "install"]
    text = "\n".join(s.text for s in page.sections)
    for gone in ("do not index me", "Menu text", "Sidebar text", "Copyright footer", "\u00b6", "color:red"):
        assert gone not in text
    assert "Widgets are small. They spin." in text


def test_code_lists_tables_and_definition_anchors():
    install = extract_html(PAGE, "http://docs.test/widgets.html").sections[1]
    assert "pip install widgets\nwidgets --version" in install.text
    assert "- first point" in install.text and "- second point" in install.text
    assert "speed | 3" in install.text
    offset = dict((a, o) for o, a in install.anchors)["widgets.spin"]
    assert install.text[offset:].startswith("widgets.spin(speed)")


def test_a_table_of_names_that_link_to_themselves_is_no_index():
    """gi-docgen links each enum member to its own id (a permalink): GdkPixbuf's
    PixbufRotation page, a short description over its members, was refused as an index."""
    rows = "".join(
        f'<tr><td><a id="{n}" href="#{n}"><code>GDK_PIXBUF_ROTATE_{n.upper()}</code></a></td>'
        f"<td><p>Rotate by {d}&nbsp;degrees.</p></td></tr>"
        for n, d in (("none", 0), ("counterclockwise", 90), ("upsidedown", 180), ("clockwise", 270))
    )
    html = f"""<html><head><title>GdkPixbuf.PixbufRotation</title></head><body><main>
    <h1>PixbufRotation</h1><h4>Declaration</h4><pre>enum GdkPixbuf.PixbufRotation</pre>
    <h4>Description</h4><p>The possible rotations which can be passed to rotate_simple().
    Their numerical values are the actual degrees.</p>
    <div class="members"><h4 id="members">Members<a href="#members" class="anchor"></a></h4>
    <table>{rows}</table></div>
    </main></body></html>"""
    page = extract_html(html, "http://docs.test/enum.PixbufRotation.html")
    assert not page.links_only
    text = "\n".join(s.text for s in page.sections)
    assert "GDK_PIXBUF_ROTATE_CLOCKWISE | Rotate by 270 degrees." in text
    # The same table whose names lead to other pages is still a list of links.
    away = html.replace('href="#', 'href="other.html#')
    assert extract_html(away, "http://docs.test/e.html").links_only


def test_links_are_absolute_and_include_navigation():
    page = extract_html(PAGE, "http://docs.test/guide/widgets.html")
    assert "http://docs.test/other.html" in page.links


def test_malformed_html_still_yields_text():
    html = (
        b"<html><title>Bad</title><body><h1>Bad<p>unclosed <b>bold <div><table><td>cell</p><h2>Next</h2>tail"
    )
    page = extract_html(html, "http://x/")
    assert "unclosed bold" in page.sections[0].text
    assert page.sections[-1].heading.endswith("Next")
    assert "tail" in page.sections[-1].text


def test_encoding_from_meta_charset():
    html = '<html><head><meta charset="iso-8859-1"><title>Caf\xe9</title></head>'
    html += "<body><p>cr\xe8me</p></body></html>"
    page = extract_html(html.encode("latin-1"), "http://x/")
    assert page.title == "Caf\u00e9" and "cr\u00e8me" in page.sections[0].text


def test_markdown_sections_with_slug_anchors():
    page = extract_markdown(
        "# Guide\nIntro\n## Set up the GPU\nSteps\n```\n# not a heading\n```\n", "file:///g.md"
    )
    assert [s.heading for s in page.sections] == ["Guide", "Guide \u203a Set up the GPU"]
    assert page.sections[1].anchor == "set-up-the-gpu"
    assert "# not a heading" in page.sections[1].text


def test_markdown_headings_drop_their_closing_hashes_in_linear_time():
    import time

    page = extract_markdown("## Sub ##\ntext\n# C#\nmore\n", "file:///g.md")
    assert [s.heading.split(" \u203a ")[-1] for s in page.sections] == ["Sub", "C"]
    # a hostile line: thousands of spaces between the heading and its closing hashes
    hostile = "### a" + " " * 20_000 + "#" * 20_000 + " " * 20_000 + "b\n" + "# " + " " * 20_000 + "\n"
    started = time.monotonic()
    page = extract_markdown(hostile * 5, "file:///h.md")
    assert time.monotonic() - started < 2.0
    assert page.sections[0].heading.startswith("a ")


def test_a_page_heading_beside_the_content_block_is_kept():
    """AsciiDoc man pages: h1 and the NAME line in #header, the rest in #content."""
    html = b"""<html><head><title>gitmailmap(5)</title></head><body>
    <div id="header"><h1>gitmailmap(5) Manual Page</h1><h2>NAME</h2>
    <div class="sectionbody"><p>gitmailmap - Map author/committer names</p></div></div>
    <div id="content"><div class="sect1"><h2 id="_description">DESCRIPTION</h2>
    <p>The .mailmap file maps names and email addresses to canonical ones.</p></div></div>
    <div id="footer"><div id="footer-text">Last updated 2023</div></div></body></html>"""
    page = extract_html(html, "http://d/gitmailmap.html")
    text = "\n".join(s.text for s in page.sections)
    assert "Map author/committer names" in text  # the NAME line, outside #content
    assert page.sections[-1].heading == "gitmailmap(5) Manual Page › DESCRIPTION"
    assert "Last updated" not in text  # the footer is still chrome


def test_a_heading_or_term_with_a_content_id_is_not_the_pages_content():
    """libadwaita's style-class guide documents `.content` under `<h3 id="content">`, and
    Apache's getting-started page heads a section `<h2 id="content">`: the heading was taken
    for the page's whole text. A heading, a term or code names a place on the page."""
    for place in ('<h3 id="content">.content</h3>', '<dt id="content"><code>content</code></dt>'):
        html = f"""<html><body><nav class="sidebar"><a href="index.html">Adw</a></nav>
        <section id="main" class="content"><section><div class="docblock"><h1>Style Classes</h1>
        <p>The Adwaita stylesheet provides a number of style classes for widgets.</p>
        <h2 id="linked">Linked Controls</h2><p>The .linked style class can be applied to a box.</p>
        <h2 id="deprecated">Deprecated Style Classes</h2>{place}
        <p>Use the view style class instead.</p></div></section></section></body></html>"""
        page = extract_html(html, "http://docs.test/style-classes.html")
        text = " ".join(s.text for s in page.sections)
        assert "can be applied to a box" in text and "Use the view style class instead" in text
        assert page.title == "Style Classes"


def test_an_empty_anchor_with_a_content_id_is_not_the_pages_content():
    # Texinfo (Maxima's manual) anchors each documented name with an empty span whose id is the
    # name; its `content` function's anchor had made the whole page "no readable text".
    html = b"""<html><body><div class="header"><a href="a.html">Previous</a></div>
    <div class="section" id="Functions-for-Polynomials"><h3>Functions for Polynomials</h3>
    <p>Function: coeff (expr, x, n) returns the coefficient of x^n in expr.</p>
    <span id="content"></span><p>Function: content (p, x) returns the content of the polynomial
    p, the greatest common divisor of its coefficients.</p></div></body></html>"""
    page = extract_html(html, "http://docs.test/maxima_76.html")
    text = " ".join(s.text for s in page.sections)
    assert "returns the coefficient of x^n" in text
    assert "greatest common divisor of its coefficients" in text
    assert "Functions for Polynomials" in [s.heading for s in page.sections]
    # A content block that holds text still leaves out the rest of the page.
    framed = html.replace(b'<div class="section"', b'<div id="content"><div class="section"')
    framed = framed.replace(b"</div></body>", b"</div></div><p>Footer words outside it.</p></body>")
    sections = extract_html(framed, "http://docs.test/m.html").sections
    assert "greatest common divisor" in " ".join(s.text for s in sections)
    assert "Footer words" not in " ".join(s.text for s in sections)
    # A search page's empty results block is still the content: the page has no text to index.
    search = b"""<html><body><div role="main"><div id="search-results"></div></div>
    <div class="footer">Copyright 2007-2023, the authors. Created using Sphinx.</div></body></html>"""
    assert extract_html(search, "http://docs.test/search.html").sections == []
    # A page that is all script still has no text.
    shell = b"""<html><body><nav class="navbar"><a href="/a.html">Docs</a></nav><main></main>
    <noscript>Enable JavaScript.</noscript><footer class="footer">Copyright</footer></body></html>"""
    page = extract_html(shell, "http://docs.test/app.html")
    assert page.sections == [] and not page.links_only
    # An empty <main> is the content block itself (only inline anchors are passed over): text
    # a script replaces, outside it, is not indexed.
    waiting = b"""<html><body><main></main><p>Loading the documentation, please enable JavaScript to
    read this site.</p></body></html>"""
    assert extract_html(waiting, "http://docs.test/app.html").sections == []


def test_a_texinfo_chapter_page_is_a_list_of_links_not_an_unreadable_page():
    # Texinfo writes a chapter's page as its heading over a menu of its sections, in a list
    # whose class ("section-toc") marks it as chrome; the page is a table of contents.
    items = "".join(f'<li><a href="maxima_{n}.html">Bessel Functions {n}</a></li>' for n in range(78, 88))
    html = f"""<html><body><div class="chapter" id="Special-Functions"><div class="header"><p>
    Next: <a href="maxima_88.html" rel="next">Elliptic Functions</a>, Previous: <a href="maxima_74.html"
    rel="prev">Polynomials</a></p></div><h2 class="chapter">15 Special Functions</h2>
    <ul class="section-toc">{items}</ul></div></body></html>"""
    page = extract_html(html, "http://docs.test/maxima_77.html")
    assert page.sections == [] and page.links_only
    assert "http://docs.test/maxima_80.html" in page.links
    one = html.replace(items, '<li><a href="maxima_2.html">Functions and Variables for Bugs</a></li>')
    assert extract_html(one, "http://docs.test/maxima_1.html").links_only  # a chapter of one section
    # Still empty: a heading over its pager alone, a list that leads nowhere, a page with
    # nothing, an empty block a script fills, a script's shell with a navigation bar.
    pager_only = html.replace(f'<ul class="section-toc">{items}</ul>', "")
    nowhere = html.replace(items, '<li><a href="#top">Top</a></li><li><a href="mailto:a@b">Mail</a></li>')
    scripted = '<html><body><div role="main"><div id="results"></div></div></body></html>'
    shell = """<html><body><nav class="navbar"><ul><li><a href="/a.html">Docs</a></li>
    <li><a href="/b.html">Blog</a></li></ul></nav><main></main></body></html>"""
    for empty in (pager_only, nowhere, "<html><body></body></html>", scripted, shell):
        page = extract_html(empty, "http://docs.test/e.html")
        assert page.sections == [] and not page.links_only, empty


def test_docbook_and_swi_prolog_chapter_pages_are_lists_of_links_too():
    # DocBook's chapter page: its navigation tables over a `div.toc` holding a `dl.toc`
    # whose terms link to the sections (`<dt><span class="section"><a>`): Linux-PAM, GnuCash.
    terms = "".join(
        f'<dt><span class="section"><a href="sag-{n}.html">5.{n}. Step</a></span></dt>' for n in (1, 2)
    )
    docbook = f"""<html><head><title>Chapter 5. Security issues</title></head><body>
    <div class="navheader"><table><tr><td><a accesskey="p" href="sag-4.html">Prev</a></td>
    <td><a accesskey="n" href="sag-1.html">Next</a></td></tr></table></div><div class="chapter">
    <div class="titlepage"><h1 class="title">Chapter 5. Security issues</h1></div><div class="toc">
    <p><b>Table of Contents</b></p><dl class="toc">{terms}</dl></div></div>
    <div class="navfooter"><a href="index.html">Home</a></div></body></html>"""
    page = extract_html(docbook, "http://docs.test/sag-security-issues.html")
    assert page.sections == [] and page.links_only
    # SWI-Prolog's section index: a heading over `div.toc` lines, each `div.toc-h2 > a`.
    lines = "".join(
        f'<div class="toc-h2"><a class="sec" href="p{n}.html">4.{n} Part</a></div>' for n in (1, 2)
    )
    swi = f"""<html><body><div class="navhdr"><a class="nav" href="index.html">Home</a></div>
    <h1 class="chapter">4 Built-in Predicates</h1><div class="toc-h1"><h2>Section Index</h2></div>
    <hr><div class="toc">{lines}</div></body></html>"""
    assert extract_html(swi, "http://docs.test/builtin.html").links_only
    # Terms that only point within the page, and navigation alone, are not a contents.
    inward = docbook.replace('href="sag-1.html">5.1', 'href="#s1">5.1').replace(
        'href="sag-2.html">5.2', 'href="#s2">5.2'
    )
    bare = docbook.replace(f'<dl class="toc">{terms}</dl>', "")
    navigation = swi.replace(f'<div class="toc">{lines}</div>', "")
    backref = docbook.replace(
        f'<dl class="toc">{terms}</dl>', '<a class="toc-backref" href="sag-1.html">Up</a>'
    )
    for empty in (inward, bare, swi.replace('href="p', 'href="#p'), navigation, backref):
        page = extract_html(empty, "http://docs.test/e.html")
        assert page.sections == [] and not page.links_only, empty


def test_nested_contents_of_every_shape_are_read_in_linear_time():
    """Each contents entry reads its own links and its spans' only: nested definition lists
    and contents lines cost one pass, as nested lists do (a hostile page nests them deep)."""
    import time

    terms = "".join(f'<dt><span class="section"><a href="#s{n}">{n}</a></span></dt>' for n in range(100))
    nested_dl = '<div class="toc">' + f'<dl class="toc">{terms}<dd>' * 240 + "</dd></dl>" * 240 + "</div>"
    lines = "".join(f'<span><a href="#l{n}">{n}</a></span>' for n in range(100))
    nested_div = f'<div class="toc-h2">{lines}' * 400 + "</div>" * 400
    for body in (nested_dl, nested_div):
        html = f"<html><body><h1>Contents</h1>{body}</body></html>"
        started = time.monotonic()
        page = extract_html(html, "http://docs.test/toc.html")
        assert time.monotonic() - started < 10.0
        assert page.sections == [] and not page.links_only  # every entry points within the page


def test_a_page_nested_100k_deep_is_refused_in_well_under_5_s():
    import time

    import pytest

    from rag.errors import FetchError
    from rag.loading.extract import MAX_DEPTH

    deep = b"<html><body>" + b"<div>" * 100_000 + b"<p>deep</p>" + b"</div>" * 100_000 + b"</body></html>"
    unclosed = b"<html><body>" + b"<div><span><b><i><em>text " * 50_000 + b"</body></html>"
    for html in (deep, unclosed, deep.decode()):
        started = time.monotonic()
        with pytest.raises(FetchError) as caught:
            extract_html(html, "http://x/deep.html")
        assert time.monotonic() - started < 5.0
        assert caught.value.reason == "too-deep" and str(MAX_DEPTH) in caught.value.message
    # Just inside the limit the page is read: no RecursionError.
    ok = "<html><body>" + "<div>" * 500 + "<p>still here</p>" + "</div>" * 500 + "</body></html>"
    assert "still here" in extract_html(ok, "http://x/").sections[0].text


def test_link_lists_are_measured_in_one_pass_not_one_per_element():
    """Nested blocks full of links: the old per-element find_all was quadratic in the nesting."""
    import time

    group = "<div>" * 400 + "".join(f'<a href="/p{i}">link {i}</a> ' for i in range(6)) + "</div>" * 400
    html = "<html><body><h1>Links</h1>" + group * 25 + "<p>" + "Some prose. " * 30 + "</p></body></html>"
    started = time.monotonic()
    page = extract_html(html, "http://x/")
    assert time.monotonic() - started < 10.0
    assert "Some prose." in "\n".join(s.text for s in page.sections)
    assert "link 3" not in "\n".join(s.text for s in page.sections)  # the link blocks are dropped


def test_a_landing_page_keeps_its_prose_beside_a_long_table_of_contents():
    """Tornado's index.html: introduction, installation and a long toctree in one section.
    Judged as a whole the section was mostly link text, so the page was refused as a list
    of links and its installation notes were lost; now only the toctree goes."""
    toc = "".join(f'<li><a href="/p{i}.html">Chapter {i} of the user guide</a></li>' for i in range(60))
    html = f"""<html><body><div role="main"><div class="section" id="tornado"><h1>Tornado</h1>
    <p>Tornado is a Python web framework and asynchronous networking library.</p>
    <div class="section" id="installation"><h2>Installation</h2><pre>pip install tornado</pre>
    <p>Prerequisites: Tornado 6.2 requires Python 3.7 or newer. {"It runs on Linux and BSD. " * 20}</p>
    </div><div class="section" id="documentation"><h2>Documentation</h2><ul>{toc}</ul></div>
    </div></div></body></html>"""
    page = extract_html(html, "http://docs.test/index.html")
    text = " ".join(f"{s.heading} {s.text}" for s in page.sections)
    assert not page.links_only
    assert "requires Python 3.7 or newer" in text and "pip install tornado" in text
    assert "Chapter 7 of the user guide" not in text


def test_an_index_of_terms_and_links_is_still_only_a_list_of_links():
    """A book index (DocBook's bookindex, Sphinx's genindex): terms, each with its links,
    and no paragraphs: still refused, though the terms are text outside any link."""
    entries = "".join(
        f'<dt>term{i}</dt><dd><a href="/a{i}.html">Functions and operators</a>, '
        f'<a href="/b{i}.html">Data type reference</a></dd>'
        for i in range(80)
    )
    html = f"<html><body><div role='main'><h1>Index</h1><dl>{entries}</dl></div></body></html>"
    assert extract_html(html, "http://docs.test/bookindex.html").links_only


def _genindex(letters: dict[str, int], linked_terms: bool = True) -> str:
    """Sphinx's genindex (the classic theme): a heading and a table per letter, each entry a
    link; with `linked_terms` false an entry is a term over its links, as for overloads."""

    def entry(letter: str, i: int) -> str:
        target = f'<a href="api.html#{letter}{i}">{letter.lower()}func{i}() (in module pkg.mod{i})</a>'
        if linked_terms:
            return f"<li>{target}</li>"
        return f"<li>{letter.lower()}name{i}<ul><li>{target}</li></ul></li>"

    body = "".join(
        f'<h2 id="{letter}">{letter}</h2><table class="indextable genindextable"><tr><td><ul>'
        + "".join(entry(letter, i) for i in range(count))
        + "</ul></td></tr></table>"
        for letter, count in letters.items()
    )
    jump = " | ".join(f'<a href="#{letter}"><strong>{letter}</strong></a>' for letter in letters)
    return f"""<html><body><div class="body" role="main"><h1 id="index">Index</h1>
    <div class="genindex-jumpbox">{jump}</div>{body}</div></body></html>"""


def test_an_index_whose_small_letters_stay_as_text_is_still_only_links():
    """SQLAlchemy-Utils' genindex: a letter of under five entries is too small a list to be
    taken out, so a few such letters (3,276 characters of entries) kept the page, and its
    entries took places in the first four for questions naming a type."""
    letters = {"A": 9, "C": 6, "D": 12, "E": 3, "H": 2, "L": 3, "O": 4, "Q": 2, "U": 2, "W": 1}
    page = extract_html(_genindex(letters), "http://docs.test/genindex.html")
    assert page.links_only and page.sections == []


def test_an_index_whose_terms_are_text_over_their_links_is_only_links():
    """Werkzeug's genindex: terms outside their links, so what stays is a third links; the
    lists taken out hold over ten times the text that stays, and none of it is a sentence."""
    letters = {chr(65 + i): 12 for i in range(20)} | {"X": 2, "Y": 1, "Z": 3}
    page = extract_html(_genindex(letters, linked_terms=False), "http://docs.test/genindex.html")
    assert page.links_only and page.sections == []


def test_an_index_table_whose_entries_are_mostly_text_is_only_links():
    """FRRouting's genindex: each entry is a command's whole syntax beside one short link
    ("configuration command"), so its tables are a fifth link text and were kept, 70,000
    characters of entries ranked beside the pages; Sphinx's `indextable` says what they are."""
    rows = "".join(
        f"<li>neighbor PEER{i} route-map NAME{i} in|out prefix-list (1-{i}) description text"
        f'<ul><li><a href="bgp.html#c{i}">configuration command</a></li></ul></li>'
        for i in range(40)
    )
    html = f"""<html><body><div class="body" role="main"><h1>Index</h1>
    <div class="genindex-jumpbox"><a href="#N"><strong>N</strong></a></div>
    <h2 id="N">N</h2><table class="indextable genindextable"><tr><td><ul>{rows}</ul></td></tr></table>
    </div></body></html>"""
    page = extract_html(html, "http://docs.test/genindex.html")
    assert page.links_only and page.sections == []


def test_a_module_index_with_synopses_is_only_links():
    """Django's Python module index gives each module's synopsis, a sentence of its own page."""
    rows = "".join(
        f'<tr><td></td><td><a href="ref/m{i}.html"><code>django.contrib.app{i}</code></a> '
        f"<em>Tools for the application number {i} that the framework ships with.</em></td></tr>"
        for i in range(30)
    )
    html = f"""<html><body><div class="body" role="main"><h1>Python Module Index</h1>
    <div class="modindex-jumpbox"><a href="#d"><strong>d</strong></a></div>
    <table class="indextable modindextable">{rows}</table></div></body></html>"""
    page = extract_html(html, "http://docs.test/py-modindex.html")
    assert page.links_only and page.sections == []


def test_a_page_of_prose_with_a_link_list_beside_it_is_kept():
    """The index rules need no sentence in what stays: a page that explains, then lists
    its subpages, keeps its prose."""
    toc = "".join(f'<li><a href="sub{i}.html">Subpage number {i}</a></li>' for i in range(60))
    html = f"""<html><body><div role="main"><h1>Guides</h1>
    <p>These guides walk through a deployment from the first install to a cluster. Each one
    starts where the one before it ends, and each ends with a check that what it set up
    works. Read them in order the first time.</p>
    <ul>{toc}</ul></div></body></html>"""
    page = extract_html(html, "http://docs.test/guides/index.html")
    assert not page.links_only
    assert "walk through a deployment" in " ".join(s.text for s in page.sections)


def test_a_search_page_is_its_form_and_no_text():
    """Sphinx's search.html: a form and one line of help, which is a sentence, so 71
    characters of it were a chunk on most Sphinx manuals and came up for questions about
    searching. A page whose own text beside a search form is under MIN_TEXT has none."""
    html = """<html><body><div class="body" role="main"><h1 id="search-documentation">Search</h1>
    <noscript><div class="admonition warning"><p>Please activate JavaScript to enable the search
    functionality.</p></div></noscript>
    <p>Searching for multiple words only shows matches that contain all words.</p>
    <form action="" method="get"><input type="text" name="q" value="" />
    <input type="submit" value="search" /></form><div id="search-results"></div></div></body></html>"""
    page = extract_html(html, "http://docs.test/search.html")
    assert page.sections == [] and not page.links_only
    prose = "<p>" + "A search form sits beside a page of its own text, which stays. " * 5 + "</p>"
    kept = extract_html(html.replace("<form", prose + "<form"), "http://docs.test/searching.html")
    assert "which stays" in " ".join(s.text for s in kept.sections)
    # a short page with the site's search box (sent to the search page) keeps its words
    box = html.replace('action=""', 'action="search.html"')
    short = extract_html(box, "http://docs.test/syntax/attach-stmt.html")
    assert "Searching for multiple words" in " ".join(s.text for s in short.sections)
    scripted = extract_html(html.replace(' action=""', ""), "http://docs.test/guide/regexp.html")
    assert "Searching for multiple words" in " ".join(s.text for s in scripted.sections)


def test_a_sentence_naming_linked_things_is_prose_and_see_also_is_a_link_list():
    """CMake's CMAKE_CURRENT_SOURCE_DIR page: two short paragraphs, then a sentence naming
    four linked variables. The sentence counted as a list of links, so the page was refused
    as one; a "See also" paragraph of links still goes."""
    variables = (
        "CMAKE_BINARY_DIR",
        "CMAKE_SOURCE_DIR",
        "CMAKE_CURRENT_BINARY_DIR",
        "CMAKE_CURRENT_SOURCE_DIR",
    )
    named = ", ".join(f'<a href="{v}.html"><code>{v}</code></a>' for v in variables)
    also = ", ".join(f'<a href="{v}.html"><code>{v}</code></a>' for v in (*variables, "PROJECT_SOURCE_DIR"))
    html = f"""<html><body><div role="main"><section id="cmake-current-source-dir">
    <h1>CMAKE_CURRENT_SOURCE_DIR</h1><p>The path to the source directory currently being processed.</p>
    <p>This is the full path to the source directory that is currently being processed by cmake.</p>
    <p>When run in <a href="cmake.1.html"><code>cmake -P</code></a> script mode, CMake sets the
    variables {named} to the current working directory.</p><p>See also: {also}.</p>
    </section></div></body></html>"""
    page = extract_html(html, "http://docs.test/variable/CMAKE_CURRENT_SOURCE_DIR.html")
    text = " ".join(s.text for s in page.sections)
    assert not page.links_only
    assert "CMake sets the variables CMAKE_BINARY_DIR, CMAKE_SOURCE_DIR" in " ".join(text.split())
    assert "See also" not in text


def test_an_opening_line_before_many_links_does_not_make_them_prose():
    links = ", ".join(f'<a href="cmd{i}.html">command_{i}</a>' for i in range(200))
    html = f"""<html><body><div role="main"><h1>Commands</h1>
    <p>This is the list of all the commands in the manual, in order: {links}.</p></div></body></html>"""
    assert extract_html(html, "http://docs.test/commands.html").links_only


def _integrations(host: str, intro: str) -> str:
    articles = "".join(
        f'<li><p><a href="{host}/post-{i}.html">Article {i} on sessions and retries</a></p></li>'
        for i in range(8)
    )
    return f"""<html><body><div role="main"><section id="integrations"><h1>Integrations</h1>
    <section id="ios"><h2>Python for iOS</h2>{intro}<pre>import requests</pre></section></section>
    <section id="articles"><h1>Articles &amp; Talks</h1><ul>{articles}</ul></section></div></body></html>"""


def test_a_short_page_whose_list_links_to_other_sites_is_content_when_it_has_a_sentence():
    """Requests' "Integrations" page: two lines of prose and a list of articles elsewhere.
    It was refused as "only a list of links"; an index links to the site's own pages, a
    stub of navigation to other sites has no sentence, and both are still refused."""
    said = (
        "<p>Requests is built into the wonderful Python for iOS runtime!</p><p>To give it a try, simply:</p>"
    )
    page = extract_html(
        _integrations("https://blog.example", said), "http://docs.test/community/out-there.html"
    )
    text = " ".join(s.text for s in page.sections)
    assert not page.links_only
    assert "built into the wonderful Python for iOS runtime" in text and "Article 3 on sessions" in text
    # the same page linking to its own site's pages is a table of contents
    assert extract_html(_integrations("", said), "http://docs.test/community/out-there.html").links_only
    # its own site written with a port or "www.", in capitals, is still its own site
    for home in ("http://docs.test:80", "http://WWW.docs.test"):
        assert extract_html(_integrations(home, said), "http://docs.test/community/out-there.html").links_only
    # no sentence of its own: navigation, wherever it links
    bare = "<p>Python for iOS</p>"
    assert extract_html(
        _integrations("https://blog.example", bare), "http://docs.test/policy.html"
    ).links_only


def _property_page(description: str, see_also: int = 0) -> str:
    """A gi-docgen property page (libadwaita's reference): a declaration, then a description
    block holding a source link, the type's link, getter and setter links and "See also"."""
    also = "".join(
        f'<li><a href="property.AboutWindow.p{i}.html"><code>AdwAboutWindow:credits-{i}</code></a></li>'
        for i in range(see_also)
    )
    getters = "".join(
        f'<tr><td>{kind} method</td><td><a href="method.HeaderBar.{kind}_policy.html">'
        f"<code>adw_header_bar_{kind}_policy()</code></a></td></tr>"
        for kind in ("get", "set")
    )
    return f"""<html><body><section id="main" class="content"><header><h3>Property</h3>
    <h1><a href="index.html">Adw</a><a href="class.HeaderBar.html">HeaderBar</a>:centering-policy</h1>
    </header><section><div class="declaration"><h4 id="declaration">Declaration</h4>
    <pre><code>property centering-policy: Adw.CenteringPolicy [ read, write ]</code></pre></div>
    <div class="description"><h4 id="description">Description<a href="#description" class="anchor"></a>
    <a class="srclink" href="https://gitlab.gnome.org/adw-header-bar.c#L474">[src]</a></h4>
    <div class="docblock">{description}{"<p>See also:</p><ul>" + also + "</ul>" if see_also else ""}</div>
    <div class="docblock"><table><tr><td>Type:</td><td><a href="enum.CenteringPolicy.html">
    <code>AdwCenteringPolicy</code></a></td></tr></table></div>
    <div class="docblock"><table>{getters}</table></div></div>
    <div class="flags"><h4 id="flags">Flags</h4><table><tr><td>Readable</td><td>yes</td></tr></table></div>
    </section></section></body></html>"""


def test_a_tiny_reference_page_whose_description_block_is_linked_keeps_its_description():
    """libadwaita's property pages: one sentence beside five links (the source, the type, the
    getter and setter), or three beside a "See also" list. The block was a list of links and
    the page was refused as one (12 pages); a word of prose per link is a description."""
    one = _property_page("<p>The policy for aligning the center widget.</p>")
    three = _property_page(
        "<p>The list of artists of the application.</p><p>It will be displayed on the Credits page.</p>"
        "<p>Each name may contain email addresses and URLs, see the introduction for more details.</p>",
        see_also=6,
    )
    for html, said in ((one, "aligning the center widget"), (three, "displayed on the Credits page")):
        page = extract_html(html, "http://docs.test/property.HeaderBar.centering-policy.html")
        assert not page.links_only
        assert said in " ".join(s.text for s in page.sections)


def test_paragraphs_nested_in_a_refused_list_are_read_in_linear_time():
    """Hostile: lxml keeps `<p><span><p>` nested, 240 levels over 200 KB of link text in a
    list that is refused; each paragraph read whole would cost depth times size."""
    import time

    inner = "".join(f'<a href="/x{i}.html">{"link text " * 5000}</a>' for i in range(4))
    nested = "<p><span>" * 240 + inner + "</span></p>" * 240
    links = "".join(f'<a href="/p{i}.html">page {i}</a> ' for i in range(6))
    html = f"<html><body><main><h1>Index</h1><div>{links}{nested}</div></main></body></html>"
    started = time.monotonic()
    extract_html(html, "http://docs.test/nested.html")
    assert time.monotonic() - started < 2.0  # 0.1 s here; 5 s when each paragraph was read whole


def test_a_contents_page_with_an_introduction_inside_its_list_is_still_a_list_of_links():
    """Kea's index.html, Flex's index of functions: two sentences of introduction in the
    block that holds hundreds of links are still a table of contents."""
    entries = "".join(
        f'<li><a href="ch{i}.html">Chapter {i}: configuring the server</a></li>' for i in range(60)
    )
    html = f"""<html><body><div role="main"><h1>Welcome to the manual</h1><div class="toctree-wrapper">
    <p>Kea is an open source implementation of the Dynamic Host Configuration Protocol servers.</p>
    <p>This is the reference guide for the server, developed by the consortium.</p>
    <ul>{entries}</ul></div></div></body></html>"""
    assert extract_html(html, "http://docs.test/index.html").links_only


def test_words_outside_links_are_counted_in_linear_time():
    """A paragraph mostly of links under deep nesting: its words are counted in the one pass
    of text_stats, not by walking up from every string."""
    import time

    words = "".join(f"<i>word{i % 10} and more</i> " for i in range(40_000))
    inner = "<span>" * 400 + words + "</span>" * 400
    html = f"<html><body><h1>Deep</h1><p><a href='/x'>{'link text ' * 50000}</a>{inner}</p></body></html>"
    started = time.monotonic()
    extract_html(html, "http://docs.test/deep.html")
    assert time.monotonic() - started < 15.0  # 4 s here; walking up from every string: 5-6 times that


def test_a_list_whose_items_are_paragraphs_naming_a_link_is_still_a_link_list():
    """Sphinx writes a loose list as <li><p>...</p></li>; a paragraph that is mostly its one
    link (Sphinx's "Projects using Sphinx") is not prose that keeps the list."""
    items = "".join(
        f'<li><p><a href="https://p{i}.test/">Project number {i}</a> (theme)</p></li>' for i in range(60)
    )
    html = f"""<html><body><div role="main"><h1>Examples</h1><p>Projects that use the tool, and
    the theme each one uses; send us yours if it is missing. {"Each entry names the project. " * 6}</p>
    <div class="section"><ul>{items}</ul>
    </div></div></body></html>"""
    text = " ".join(s.text for s in extract_html(html, "http://docs.test/examples.html").sections)
    assert "Projects that use the tool" in text and "Project number 7" not in text


def test_a_section_whose_id_names_a_chrome_word_is_content():
    """Sphinx gives sections their heading's slug as id: Django's "Pagination" page
    (id="s-pagination") was dropped whole as if it were a page-navigation widget."""
    html = """<html><body><div id="global-nav">Home · Topics</div>
    <div class="yui-g" id="topics-pagination"><div class="section" id="s-pagination">
    <h1>Pagination</h1><p>Django provides a high-level way to manage paginated data, that is,
    data split across several pages, with Previous/Next links.</p>
    <div class="section" id="s-sidebar-configuration"><h2>Sidebar configuration</h2>
    <p>The Paginator class takes a list and the number of items per page.</p></div>
    <ul class="pagination"><li><a href="?page=2">next</a></li></ul></div></div>
    <div id="footer">Copyright</div></body></html>"""
    page = extract_html(html, "http://docs.test/topics/pagination.html")
    text = " ".join(s.text for s in page.sections)
    assert "high-level way to manage paginated data" in text and "number of items per page" in text
    assert "Home · Topics" not in text and "Copyright" not in text and "next" not in text.split()


def test_chrome_named_by_id_still_goes_even_with_a_heading_unless_the_id_is_its_slug():
    html = """<html><body><main><h1>Flask quickstart</h1><p>Run the app with flask run and
    open the page in a browser; the debugger shows tracebacks.</p>
    <section id="cookies"><h2>Cookies</h2><p>To access cookies use the cookies attribute of
    the request object.</p></section>
    <h2 id="setting-the-pagination-style">Setting the pagination style</h2><p>Choose how the
    pager draws its buttons.</p>
    <div id="footer-widgets"><h3>About us</h3><p>We are a small shop in town.</p></div>
    <div id="sidebar-nav"><h3>Contents</h3><p>Quickstart, Tutorial, API</p></div>
    </main></body></html>"""
    text = " ".join(f"{s.heading} {s.text}" for s in extract_html(html, "http://docs.test/q.html").sections)
    assert "cookies attribute of the request object" in text
    assert "Setting the pagination style" in text and "draws its buttons" in text
    assert "small shop in town" not in text and "Quickstart, Tutorial, API" not in text


def test_docbook_navigation_goes_and_sections_link_to_their_wrapper_ids():
    """DocBook's XSL (PostgreSQL's manual) puts a Prev | Up | Home | Next table in a
    navheader and navfooter, and the section's id three wrappers above its heading."""
    html = """<html><body><div class="navheader"><table summary="Navigation header"><tr>
    <th colspan="5">11.7. Indexes on Expressions</th></tr><tr><td><a href="a.html">Prev</a></td>
    <td><a href="b.html">Up</a></td><th>Chapter 11. Indexes</th><td><a href="c.html">Home</a></td>
    <td><a href="d.html">Next</a></td></tr></table><hr /></div>
    <div class="sect1" id="INDEXES-EXPRESSIONAL"><div class="titlepage"><div><div>
    <h2 class="title">11.7. Indexes on Expressions</h2></div></div></div>
    <p>An index column need not be just a column of the underlying table, but can be a
    function or scalar expression computed from one or more columns of the table.</p>
    <div class="sect2" id="EXPR-NOTES"><div class="titlepage"><div><div>
    <h3 class="title">11.7.1. Notes</h3></div></div></div><p>Index expressions are
    relatively expensive to maintain.</p></div></div>
    <div class="navfooter"><hr /><table summary="Navigation footer"><tr><td>
    <a href="a.html">Prev</a></td><td><a href="b.html">Up</a></td></tr></table></div>
    </body></html>"""
    page = extract_html(html, "http://docs.test/indexes-expressional.html")
    assert [s.heading for s in page.sections] == [
        "11.7. Indexes on Expressions",
        "11.7. Indexes on Expressions \u203a 11.7.1. Notes",
    ]
    assert [s.anchor for s in page.sections] == ["INDEXES-EXPRESSIONAL", "EXPR-NOTES"]
    text = " ".join(s.text for s in page.sections)
    assert "scalar expression computed" in text and "Prev" not in text and "Home" not in text


def test_a_wrapper_id_is_not_taken_by_a_heading_that_does_not_open_it():
    html = """<html><body><main><div id="intro"><h1>Guide</h1><p>Welcome to the guide,
    which explains everything there is to know about widgets and their care.</p>
    <div><h2>Later part</h2><p>More text about the later part of the guide.</p></div></div>
    </main></body></html>"""
    anchors = [s.anchor for s in extract_html(html, "http://docs.test/g.html").sections]
    assert anchors == ["intro", None]


TEXINFO = """<html><head><meta name="Generator" content="makeinfo"></head><body>
<div class="section" id="Basic-Vectorization"><div class="header"><p>
Next: <a href="Broadcasting.html" accesskey="n" rel="next">Broadcasting</a>, Up:
<a href="Vectorization.html" accesskey="u" rel="up">Vectorization</a> &nbsp;
[<a href="index.html#SEC_Contents" rel="contents">Contents</a>][<a href="Concept-Index.html"
rel="index">Index</a>]</p></div><hr>
<h3 class="section">19.1 Basic Vectorization</h3>
<p>The goal in vectorization is to write code that avoids loops and uses whole-array
operations. See <a href="Broadcasting.html">Broadcasting</a> for arrays of other shapes.</p>
</div></body></html>"""


def test_a_texinfo_pager_goes_though_it_has_fewer_links_than_a_link_list():
    page = extract_html(TEXINFO, "http://docs.test/Basic-Vectorization.html")
    assert [s.heading for s in page.sections] == ["19.1 Basic Vectorization"]
    text = page.sections[0].text
    assert "avoids loops" in text and "See Broadcasting for arrays" in text  # a link in prose stays
    assert "Next:" not in text and "Contents" not in text


def test_pagers_are_found_in_linear_time_among_many_shortcut_links():
    """A hostile page: 20,000 keyboard-shortcut links in one block, in 200 nested levels."""
    import time

    links = "".join(f'<a href="/p{i}" accesskey="n" rel="next">n{i}</a> ' for i in range(20_000))
    prose = "This paragraph is the page's own prose. " * 40  # sentences: a page beside 20,000 links
    html = "<html><body><h1>T</h1>" + "<div>" * 200 + links + "</div>" * 200 + "<p>" + prose
    html += "</p></body></html>"
    started = time.monotonic()
    page = extract_html(html, "http://x/")
    assert time.monotonic() - started < 10.0
    text = "\n".join(s.text for s in page.sections)
    assert "own prose." in text and "n19999" not in text


def test_a_heading_takes_the_empty_anchor_just_before_it():
    """GTK-doc (and older DocBook) mark a section with <a name> right before its heading."""
    html = """<html><body><div class="refsect2"><a name="g-hash-table-new"></a>
    <h3>g_hash_table_new ()</h3><p>Creates a new GHashTable with a reference count of 1.</p>
    <p>See <a href="other.html">another page</a> for more.</p><h3>Later</h3><p>Text after
    a heading with no anchor of its own at all.</p></div></body></html>"""
    anchors = [s.anchor for s in extract_html(html, "http://docs.test/glib-Hash-Tables.html").sections]
    assert anchors == ["g-hash-table-new", None]


def test_prose_with_one_next_link_and_a_section_with_a_heading_are_not_pagers():
    html = """<html><body><main><h1>Guide</h1><p>When you are done, continue with
    <a rel="next" href="two.html">part two</a>.</p>
    <div id="s2"><h2>Next steps</h2><p>Read <a rel="next" href="n.html">the API</a> and
    <a rel="up" href="i.html">the index</a> next.</p></div>
    <table><tr><td><a accesskey="s" href="#">Save</a></td><td>Ctrl+S saves the file</td></tr></table>
    </main></body></html>"""
    text = " ".join(f"{s.heading} {s.text}" for s in extract_html(html, "http://docs.test/g.html").sections)
    for kept in ("continue with part two", "Next steps", "Read the API", "Ctrl+S saves the file"):
        assert kept in text, kept


def test_a_heading_keeps_its_own_inner_anchor_before_a_wrapper_further_up():
    html = """<html><body><div id="main"><div class="document"><h2><a id="install"></a>Install</h2>
    <p>Run the installer and follow the prompts until it says that it is done.</p></div></div>
    </body></html>"""
    assert [s.anchor for s in extract_html(html, "http://docs.test/i.html").sections] == ["install"]


def test_deep_id_wrappers_cost_linear_time():
    """Hostile: 400 nested wrappers with ids, each with 30 paragraphs before its heading."""
    import time

    opened = "".join(f'<div id="d{k}">' + "<p>x</p>" * 30 for k in range(400))
    html = "<html><body>" + opened + "".join(f"<h2>H{k}</h2></div>" for k in range(400)) + "</body></html>"
    started = time.monotonic()
    extract_html(html, "http://x/")
    assert time.monotonic() - started < 5.0


def test_only_an_immediate_refresh_with_a_target_is_a_redirect():
    def target(content: str) -> str | None:
        head = f'<meta http-equiv="refresh" content="{content}">'
        return extract_html(
            f"<html><head>{head}</head><body><p>short</p></body></html>", "http://x/d/a.html"
        ).redirect

    assert (
        target("0; url=b.html") == target("0;URL='b.html'") == target("0 url=b.html") == "http://x/d/b.html"
    )
    assert target("0; ./cli.html") == "http://x/d/cli.html"  # SQLite's sqlite.html
    for content in ("5; url=b.html", "0", "0; url=", "0;URL=''", "; url=b.html", "0; url=http://[::1"):
        assert target(content) is None, content


def test_a_script_redirect_stub_still_sends_the_reader_on():
    """A page with no words that a script moves on keeps a refresh for readers without
    scripts: this loader runs no scripts, so that refresh is its redirect."""
    stub = (
        "<html><head><script>location.href='new.html'</script><noscript>"
        '<meta http-equiv="refresh" content="0; url=new.html"></noscript></head><body></body></html>'
    )
    assert extract_html(stub, "http://x/d/old.html").redirect == "http://x/d/new.html"


def test_a_refresh_for_readers_without_scripts_is_no_redirect():
    """LibreOffice's help sends readers with scripts off to a "turn on JavaScript" page
    (`<noscript><meta http-equiv="refresh" ...>`); its short pages are complete as they are."""
    head = '<noscript><meta http-equiv="refresh" content="0; URL=../noscript.html"></noscript>'
    page = extract_html(
        f"<html><head>{head}</head><body><h1>Merge Cells</h1><p>Joins the cells.</p></body></html>",
        "http://x/en-US/text/scalc/01/merge.html",
    )
    assert page.redirect is None
    assert [s.text for s in page.sections] == ["Joins the cells."]


def test_the_pages_banner_is_chrome_but_a_header_with_a_heading_is_not():
    """A <header> outside any article, aside, main, nav or section is the site's banner
    (LibreOffice's help: its logo and "LibreOffice 7.4 Help" on every page)."""
    logo = '<a class="logo" href="new_help.html"><p>LibreOffice 7.4 Help</p></a>'
    banner = f'<header id="TopLeftHeader">{logo}</header>'
    body = "<h1>Freezing Rows</h1><p>Choose View - Freeze Cells.</p>"
    page = extract_html(
        f'<html><body>{banner}<div id="DisplayArea">{body}</div></body></html>', "http://x/a.html"
    )
    assert [s.text for s in page.sections] == ["Choose View - Freeze Cells."]
    titled = (
        "<html><body><header><h1>Freezing Rows</h1></header><p>Choose View - Freeze Cells.</p></body></html>"
    )
    assert [s.heading for s in extract_html(titled, "http://x/a.html").sections] == ["Freezing Rows"]
    byline = "<article><header><p>By Ada, 2 May</p></header><h1>Post</h1><p>Text.</p></article>"
    assert "By Ada" in extract_html(f"<html><body>{byline}</body></html>", "http://x/a.html").sections[0].text
    lead = '<div role="main"><header><p>A lead paragraph.</p></header><p>Body.</p></div>'
    assert (
        "A lead paragraph."
        in extract_html(f"<html><body>{lead}</body></html>", "http://x/a.html").sections[0].text
    )


def test_banners_on_a_deep_page_cost_linear_time():
    """Hostile: 20,000 headers 400 elements deep (each asks whether a scope holds it)."""
    import time

    html = "<div>" * 400 + "<header><span>i</span></header>" * 20_000 + "</div>" * 400
    started = time.monotonic()
    extract_html(html, "http://x/")
    assert time.monotonic() - started < 10.0


def test_ids_after_a_pages_last_words_are_no_link_target():
    """LibreOffice's help ends each page with empty `<div id="SearchFrame">` and
    `<div id="DonationFrame">`: the page's last chunk links to its own words, not below them."""
    page = extract_html(
        '<html><body><h1 id="hd1">Updating Pivot Tables</h1><p id="par1">Choose Data - Pivot Table'
        ' - Refresh.</p><div id="SearchFrame"></div><div id="DonationFrame"></div></body></html>',
        "http://x/a.html",
    )
    (section,) = page.sections
    assert section.anchor == "hd1" and section.anchors == [(0, "par1")]
    assert best_anchor(section.anchors, 0, len(section.text)) == "par1"


def test_a_pages_declared_keywords_are_kept_unless_they_repeat_its_title():
    def keywords(head: str, body: str = "") -> str:
        html = f"<html><head><title>Aliasing (zsh)</title>{head}</head><body><p>Text.</p>{body}</body></html>"
        return extract_html(html, "http://x/a.html").keywords

    assert keywords('<meta name="keywords" content="apt, apt-get,\n aptitude">') == "apt, apt-get, aptitude"
    entries = (
        '<meta itemprop="keywords" content="sheet references"><meta itemprop="keywords" content="cells">'
    )
    assert keywords("", entries) == "sheet references ; cells"  # LibreOffice: in the body
    assert keywords('<meta name="keywords" content="Aliasing (zsh)">') == ""  # Texinfo's title again
    assert keywords('<meta name="description" content="x">') == ""
    stuffed = keywords(f'<meta name="keywords" content="{"spam " * 5000}">')
    assert MAX_KEYWORDS - 5 <= len(stuffed) <= MAX_KEYWORDS and set(stuffed.split()) == {"spam"}
    assert keywords('<meta name="Keywords" content="apt">', '<meta name="keywords" content="apt">') == "apt"
    assert keywords('<meta name="keywords" content="ALIASING (ZSH)">') == ""
    html = '<html><head><meta name="keywords" content="apt, aptitude"></head><body><p>Text.</p></body></html>'
    assert page_documents(extract_html(html, "http://x/a.html"))[0].metadata["keywords"] == "apt, aptitude"
    assert "keywords" not in page_documents(extract_html("<p>Text.</p>", "http://x/b.html"))[0].metadata


def test_a_heading_whose_text_is_a_contents_backlink_keeps_its_words():
    # Sphinx under `.. contents::` links each heading back to the page's local contents;
    # the link's class says "toc", and it is the heading's whole text.
    page = extract_html(
        b"""<html><head><title>Calling</title></head><body><div role="main"><section id="calling">
        <h1>Calling<a class="headerlink" href="#calling">\xc2\xb6</a></h1>
        <nav class="contents local" id="contents"><ul><li><a href="#eta" id="id4">ETA</a></li></ul></nav>
        <section id="eta"><h2><a class="toc-backref" href="#id4" role="doc-backlink">ETA and Countdown</a>
        <a class="headerlink" href="#eta">\xc2\xb6</a></h2><p>The countdown argument delays a task.</p>
        </section></section></div></body></html>""",
        "http://docs.test/calling.html",
    )
    eta = next(s for s in page.sections if "countdown argument" in s.text)
    assert eta.heading == "Calling \u203a ETA and Countdown" and eta.anchor == "eta"
    assert "\u00b6" not in eta.heading


def test_chrome_marked_elements_on_a_deep_page_cost_linear_time():
    """Hostile: 400 nested divs, each holding 50 elements whose class says "nav"; whether each
    sits in a heading is a short climb, not one to the root."""
    import time

    opened = "".join("<div>" + '<i class="nav">word</i>' * 50 for _ in range(400))
    html = "<html><body><h1>Deep</h1><p>" + "text " * 60 + "</p>" + opened + "</div>" * 400 + "</body></html>"
    started = time.monotonic()
    page = extract_html(html, "http://x/")
    assert time.monotonic() - started < 5.0
    assert "word" not in " ".join(s.text for s in page.sections)


def test_a_permalink_with_words_still_leaves_the_heading():
    page = extract_html(
        '<html><body><div role="main"><h2>Intro<a class="headerlink" href="#intro">link</a></h2>'
        "<p>" + "Some text. " * 30 + "</p></div></body></html>",
        "http://x/",
    )
    assert page.sections[0].heading == "Intro"


def test_a_darkfish_method_heading_is_a_section_of_its_own():
    """RDoc's Darkfish writes a method's name as `div.method-heading` with a "click to toggle
    source" hint: each method becomes a section under the real heading above it, named
    without the hint and linked to the method's own id (not the next method's)."""
    method = """<div class="method-detail" id="method-i-{name}">
    <div class="method-heading"><span class="method-name">{name}</span><span
    class="method-args">(document)</span>
    <span class="method-click-advice">click to toggle source</span></div>{more}
    <div class="method-description"><p>{text}</p></div></div>"""
    call_form = '<div class="method-heading"><span class="method-callseq">reader { |r| ... }</span></div>'
    html = f"""<html><body><main><h1>class Preprocessor</h1><p>Reads lines first.</p>
    <section><h3>Public Instance Methods</h3>
    {method.format(name="process", text="Runs before the parser sees any line.", more="")}
    {method.format(name="reader", text="Gives the reader its lines.", more=call_form)}
    </section></main></body></html>"""
    page = extract_html(html, "http://docs.test/Preprocessor.html")
    found = [(s.heading, s.anchor, s.text, s.anchors) for s in page.sections]
    assert found == [
        ("class Preprocessor", None, "Reads lines first.", []),
        (
            "class Preprocessor › Public Instance Methods › process(document)",
            "method-i-process",
            "Runs before the parser sees any line.",
            [],
        ),
        (  # a second call form is the method's text, not a section of its own
            "class Preprocessor › Public Instance Methods › reader(document)",
            "method-i-reader",
            "reader { |r| ... }\nGives the reader its lines.",
            [],
        ),
    ]
    # Only a method's own heading counts: not a span, nor a div outside a method's details.
    for loose in (
        '<p>See <span class="method-heading">process</span> for more about the lines.</p>',
        '<div class="method-heading">process</div><p>Runs before the parser sees any line.</p>',
    ):
        page = extract_html(f"<html><body><h1>Preprocessor</h1>{loose}</body></html>", "http://d/p.html")
        assert [s.heading for s in page.sections] == ["Preprocessor"], loose
        assert "process" in page.sections[0].text


def test_an_id_that_opens_the_next_section_links_there_not_to_the_one_before():
    """`<section id="install"><h2>` marks its id before the heading starts the section: the
    section before keeps only the ids among its own words, and the next one links to its
    heading's anchor, or to those ids where the heading has none."""
    html = """<html><body><h1>Guide</h1><p id="intro">Read this first.</p>
    <section id="install"><h2>Install</h2><p>Run the installer.</p></section>
    <div id="usage"></div><h2>Usage</h2><p>Run it.</p></body></html>"""
    sections = extract_html(html, "http://docs.test/guide.html").sections
    assert [(s.heading, s.anchor, s.anchors) for s in sections] == [
        ("Guide", None, [(0, "intro")]),
        ("Guide › Install", "install", []),
        ("Guide › Usage", None, [(0, "usage")]),
    ]


ERLANG_FUNCTION = """<article class="func"><h4 id="{name}-2" class="func-head"><div
class="title-anchors"><a href="#{name}-2"><span class="paperclip-before"></span></a></div><span
class="title-name">{name}(Pred, List) -&gt; boolean()</span></h4><div class="REFBODY fun-types">
<h3 id="types" class="func-types-title">Types</h3><div>Pred = fun((Elem) -&gt; boolean())</div>
</div><div><p>{text}</p></div></article>"""


def test_an_article_is_the_page_only_if_it_holds_most_of_the_articles_text():
    """Erlang's module pages put the data types in an `<article>` and each function in one
    of its own: the page is all of them, with the module's description, not the longest
    article, nor the data types' article, the only one without a sibling."""
    functions = [("all", "True if Pred holds for every element."), ("any", "True if Pred holds for one.")]
    html = f"""<html><body><aside id="leftnav"><nav><a href="a.html">a</a></nav></aside>
    <div id="content"><h1>lists</h1><section class="description"><h3>Description</h3>
    <p>This module contains functions for list processing.</p></section><div><h3>Data Types</h3>
    <article><h4 id="type-direction">direction() = leading</h4></article></div><h3>Exports</h3>
    <div>{"".join(ERLANG_FUNCTION.format(name=n, text=t) for n, t in functions)}</div></div></body></html>"""
    text = " ".join(s.text for s in extract_html(html, "http://docs.test/lists.html").sections)
    assert "functions for list processing" in text
    assert "for every element" in text and "holds for one" in text
    reply = "<article><p>A reply.</p></article>"
    post = f"<article><h1>Post</h1><p>Words, most of the text of this page.</p>{reply}</article>"
    related = "<aside><article><p>Another post.</p></article></aside>"
    html = f"<html><body><div><p>Skip me.</p></div>{post}{related}</body></html>"
    sections = extract_html(html, "http://docs.test/post.html").sections
    assert [s.text for s in sections] == ["Words, most of the text of this page.\nA reply."]
    comment = (
        "<li><article><p>" + "A long comment that says a lot about the post. " * 4 + "</p></article></li>"
    )
    short = "<article><h1>Post title</h1><p>A short post.</p></article>"
    comments = f'<div id="comments"><ol>{comment * 5}</ol></div>'
    html = f'<html><body><div id="content">{short}{comments}</div></body></html>'
    sections = extract_html(html, "http://docs.test/post.html").sections
    assert [s.text for s in sections] == ["A short post."]


def test_nested_articles_beside_many_others_cost_linear_time():
    """Hostile: 400 articles nested, each beside 200 empty ones."""
    import time

    html = "<html><body>" + ("<article>" + "<article></article>" * 200) * 400 + "x" + "</article>" * 400
    started = time.monotonic()
    extract_html(html + "</body></html>", "http://x/")
    assert time.monotonic() - started < 10.0


def test_a_heading_whose_anchor_an_earlier_heading_took_links_to_the_heading_above():
    """Each Erlang function's "Types" heading has the id `types`, which a link finds only on
    the first function: the next ones link to their own function's heading instead."""
    functions = [("all", "Every element."), ("any", "Some element.")]
    html = f"""<html><body><main><h1>lists</h1><h3 id="exports">Exports</h3>
    {"".join(ERLANG_FUNCTION.format(name=n, text=t) for n, t in functions)}</main></body></html>"""
    sections = extract_html(html, "http://docs.test/lists.html").sections
    assert [s.anchor for s in sections] == ["types", "any-2"]


def test_a_heading_inside_an_article_ranks_below_the_one_that_opens_it():
    """An Erlang function's `<article>` opens with an h4 and holds an h3 "Types": the h3 is
    part of the function, so its section is named after the function, not after the page."""
    html = f"""<html><body><main><h1>lists</h1><h3>Exports</h3>
    {ERLANG_FUNCTION.format(name="all", text="Returns true if Pred returns true for all.")}
    </main><h2>After</h2></body></html>"""
    sections = extract_html(html, "http://docs.test/lists.html").sections
    assert [s.heading for s in sections] == ["lists › Exports › all(Pred, List) -> boolean() › Types"]
    nested = """<html><body><main><section><h2>Outer</h2><p>One.</p><section><h3>Inner</h3>
    <p>Two.</p></section><h2>Next</h2><p>Three.</p></section><h1>Top</h1><p>Four.</p></main></body></html>"""
    headings = [s.heading for s in extract_html(nested, "http://docs.test/n.html").sections]
    assert headings == ["Outer", "Outer › Inner", "Next", "Top"]


def test_a_heading_is_ranked_down_only_when_deeper_than_the_one_that_opens_its_article():
    """A kicker (an h5 beside the post's h1) demotes nothing; headings demoted keep their
    order; a section inside the article keeps the article's floor."""

    def headings(body: str) -> list[str]:
        html = f"<html><body><main>{body}</main></body></html>"
        return [s.heading for s in extract_html(html, "http://docs.test/p.html").sections]

    kicker = (
        "<article><h5>Engineering</h5><h1>Scaling</h1><p>Intro.</p><h2>Part one</h2><p>One.</p></article>"
    )
    assert headings(kicker) == ["Scaling", "Scaling › Part one"]
    usage = "<div><h2>Usage</h2><p>u</p><h3>Options</h3><p>o</p></div>"
    order = f'<section><h4 id="f">f()</h4><p>x</p>{usage}</section>'
    assert headings(order) == ["f()", "f() › Usage", "f() › Usage › Options"]
    types = "<section><h3>Types</h3><p>T</p></section>"
    inner = f'<h1>lists</h1><article><h4 id="all-2">all()</h4><p>doc</p>{types}</article>'
    assert headings(inner) == ["lists › all()", "lists › all() › Types"]


def test_scribbles_contents_and_navigation_bars_are_chrome():
    """Racket's Scribble puts the manual's contents beside each page (`div.tocset`) and its
    top/prev/up/next links above and below (`navsettop`, `navsetbottom`): a page of one
    sentence is that sentence, not a list of links."""
    rows = "".join(f'<tr><td><a href="ch{i}.html">{i} Chapter {i}</a></td></tr>' for i in range(24))
    bar = (
        '<div class="{0}"><span class="navleft"><a href="index.html">top</a></span><span class="navright">'
        '<a href="prev.html">prev</a> <a href="up.html">up</a> <a href="next.html">next</a></span></div>'
    )
    html = f"""<html><body><div class="tocset"><div class="tocview"><table>{rows}</table></div></div>
    <div class="maincolumn"><div class="main">{bar.format("navsettop")}<h4>24.5 Visual Studio Code</h4>
    <p>The <a href="https://x.test/">Magic Racket</a> extension provides Racket support including
    syntax highlighting.</p>{bar.format("navsetbottom")}</div></div></body></html>"""
    page = extract_html(html, "http://docs.test/guide/Visual_Studio_Code.html")
    assert not page.links_only
    assert [s.text for s in page.sections] == [
        "The Magic Racket extension provides Racket support including syntax highlighting."
    ]
