"""setup.sh installs the packages bench/doc_packages.py reads from bench/common.py's source:
they must be every manual's package, as CORPORA holds them once imported."""

import shutil

import pytest

from bench.common import CORPORA, Corpus, corpus, installed
from bench.doc_packages import COMMON, packages


def test_the_packages_read_from_the_source_are_every_manuals():
    expected = list(dict.fromkeys(c.package for c in CORPORA.values()))
    assert packages(COMMON.read_text()) == expected


@pytest.mark.skipif(shutil.which("dpkg-query") is None, reason="no dpkg to ask")
def test_a_manual_whose_pages_are_not_its_packages_is_refused(tmp_path, monkeypatch):
    """Pages another package put where a manual's package would (NodeSource's nodejs ships
    its own Node.js manual) are not measured against questions written for the package's."""
    assert installed("dpkg")
    assert not installed("no-such-package-of-this-project")
    monkeypatch.setitem(CORPORA, "stray", Corpus("stray", tmp_path, "no-such-package-of-this-project"))
    with pytest.raises(SystemExit, match="is not from no-such-package-of-this-project"):
        corpus("stray")
    monkeypatch.setitem(CORPORA, "ours", Corpus("ours", tmp_path, "dpkg"))
    assert corpus("ours").root == tmp_path
