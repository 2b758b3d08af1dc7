"""setup.sh installs the packages bench/doc_packages.py reads from bench/common.py's source:
they must be every manual's package, as CORPORA holds them once imported."""

from bench.common import CORPORA
from bench.doc_packages import COMMON, packages


def test_the_packages_read_from_the_source_are_every_manuals():
    expected = list(dict.fromkeys(c.package for c in CORPORA.values()))
    assert packages(COMMON.read_text()) == expected
