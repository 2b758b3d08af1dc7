"""The Debian packages every manual in bench/common.py's CORPORA is read from, one line, for
setup.sh: read from the source (`Corpus(name, root, package, ...)`), since setup.sh runs it
before the virtualenv that common.py's imports need exists.

    python3 bench/doc_packages.py
"""

from __future__ import annotations

import ast
from pathlib import Path

COMMON = Path(__file__).with_name("common.py")


def packages(source: str) -> list[str]:
    """Each `Corpus(...)` call's package (its third argument), in order, once each."""
    found: list[str] = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "Corpus":
            named = {k.arg: k.value for k in node.keywords}
            value = node.args[2] if len(node.args) > 2 else named["package"]
            if isinstance(value, ast.Constant) and value.value not in found:
                found.append(value.value)
    return found


if __name__ == "__main__":
    print(" ".join(packages(COMMON.read_text())))
