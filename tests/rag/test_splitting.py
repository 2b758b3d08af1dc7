import pytest
from langchain_core.documents import Document

from rag.errors import InputError
from rag.splitting import SPLITTERS, best_anchor, get_splitter, merge_small


def section(text, heading="Guide \u203a Install", anchor="install", anchors=(), url="http://d/guide.html"):
    return Document(
        page_content=text,
        metadata={
            "url": url,
            "source": f"{url}#{anchor}",
            "title": "Guide",
            "heading": heading,
            "anchors": list(anchors),
        },
    )


def test_notebook_splitter_is_the_notebooks_character_splitter():
    spec = SPLITTERS["notebook"]
    assert (spec.chunk_size, spec.chunk_overlap) == (800, 100)
    text = "\n\n".join(f"Paragraph {i} " + "word " * 60 for i in range(12))
    chunks = get_splitter("notebook")([section(text)])
    assert len(chunks) > 3 and all(len(c.page_content) <= 800 for c in chunks)
    assert not chunks[0].page_content.startswith("Guide")  # no heading prefix, as in the notebook


def test_sections_splitter_prefixes_headings_and_stays_inside_sections():
    docs = [section("word " * 400), section("other " * 100, "Guide \u203a Use", "use")]
    chunks = get_splitter("sections")(docs)
    assert all(c.page_content.startswith(c.metadata["heading"]) for c in chunks)
    assert {c.metadata["heading"] for c in chunks} == {"Guide \u203a Install", "Guide \u203a Use"}
    assert all(len(c.page_content) <= SPLITTERS["sections"].chunk_size + 40 for c in chunks)
    assert "anchors" not in chunks[0].metadata and "start_index" not in chunks[0].metadata


def test_chunks_link_to_the_nearest_definition():
    text = "intro " * 200 + "\nwidgets.spin(speed)\nSpin it. " + "more " * 150
    offset = text.index("widgets.spin")
    chunks = get_splitter("sections")([section(text, anchors=[(0, "install"), (offset, "widgets.spin")])])
    spin = next(c for c in chunks if "widgets.spin(speed)" in c.page_content[:200])
    assert spin.metadata["source"].endswith("#widgets.spin")
    assert chunks[0].metadata["source"].endswith("#install")


def test_best_anchor_prefers_an_anchor_early_in_the_chunk():
    anchors = [(0, "a"), (100, "b"), (500, "c")]
    assert best_anchor(anchors, 90, 300) == "b"
    assert best_anchor(anchors, 150, 300) == "b"
    assert best_anchor(anchors, 0, 30) == "a"
    assert best_anchor([], 0, 10) is None


def test_tiny_sections_merge_into_the_next_on_the_same_page_only():
    docs = [
        section("json", "json", "module-json"),
        section("Basic usage text " * 30, "json \u203a Basic Usage", "basic-usage"),
        section("tail", "json \u203a Tail", "tail"),
        section("Other page text " * 30, "Other", "other", url="http://d/other.html"),
    ]
    merged = merge_small(docs, 250)
    assert len(merged) == 3
    assert merged[0].page_content.startswith("json\nBasic usage")
    assert merged[1].page_content == "tail"  # not merged across pages
    assert merged[2].metadata["url"].endswith("other.html")


def test_a_short_intro_folds_into_its_own_subsection_and_not_into_a_sibling():
    intro = "Plug-ins change what coverage measures. " * 8  # 320 characters: above 250
    docs = [
        section(intro, "Plug-ins", "plug-ins"),
        section("File tracers claim files. " * 12, "Plug-ins › File Tracers", "tracers"),
        section("Configurers modify settings. " * 10, "Plug-ins › Configurers", "configurers"),
        section("Context switchers name contexts. " * 30, "Plug-ins › Switchers", "switchers"),
    ]
    merged = merge_small(docs, 250, 500)
    assert [d.metadata["heading"] for d in merged] == [
        "Plug-ins › File Tracers",
        "Plug-ins › Configurers",
        "Plug-ins › Switchers",
    ]
    assert merged[0].page_content.startswith(intro) and "File tracers" in merged[0].page_content
    assert merged[1].page_content.startswith("Configurers")  # a sibling keeps its own chunk
    assert merged[0].metadata["anchors"][0] == (0, "plug-ins")
    assert merge_small(docs, 250) == docs  # without the intro rule nothing is short enough
    chunks = get_splitter("sections", min_intro=500)(docs)
    assert chunks[0].page_content.startswith("Plug-ins \u203a File Tracers\n" + intro)


def test_unknown_splitter_is_a_clear_error():
    with pytest.raises(InputError) as caught:
        get_splitter("paragraphs")
    assert "sections" in str(caught.value)
