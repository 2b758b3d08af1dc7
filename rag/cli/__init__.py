"""`python -m rag`: index, search, ask and eval from a terminal or a script.

Progress goes to stderr, results to stdout (`--json` for machines). The exit status
is the repository's CLI convention: 0 when the command did its work; 1 for an error,
printed as its sentence and fix (any `RagError`); 2 for bad arguments or input
files (argparse's own errors, `InputError`); 130 for Ctrl-C, with one line and no
traceback. A traceback means a bug.

One module per group of commands: `build` (index, info, settings), `search`
(search, eval), `ask`, `compare`; `parser` holds the command line itself.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence

from ..errors import InputError, RagError
from .ask import cmd_ask
from .build import cmd_index, cmd_info, cmd_settings
from .compare import cmd_compare
from .parser import build_parser, settings_from
from .search import cmd_eval, cmd_search

__all__ = ["COMMANDS", "build_parser", "main", "run", "settings_from"]

COMMANDS: dict[str, Callable[[argparse.Namespace], int]] = {
    "index": cmd_index,
    "search": cmd_search,
    "ask": cmd_ask,
    "eval": cmd_eval,
    "compare": cmd_compare,
    "info": cmd_info,
    "settings": cmd_settings,
}


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return COMMANDS[args.command](args)
    except InputError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except RagError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("stopped.", file=sys.stderr)
        return 130


def run() -> None:
    sys.exit(main())
