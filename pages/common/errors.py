"""Errors on a page: a sentence and a fix, never a stack trace."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager

import streamlit as st

log = logging.getLogger("workshop.ui")


def show_error(error: BaseException, where: st.delta_generator.DeltaGenerator | None = None) -> None:
    """Show any error as one sentence and a fix; the page stays usable."""
    box = where or st
    message = getattr(error, "message", None)
    fix = getattr(error, "fix", "")
    if message is None:  # a bug: log the details, show a sentence
        log.exception("unexpected error", exc_info=error)
        message, fix = (
            f"Something went wrong ({type(error).__name__}).",
            "Try again; the details are in the app's log.",
        )
    box.error(f"{message}\n\n{fix}".strip(), icon=":material/error:")


@contextmanager
def shown_errors(where: st.delta_generator.DeltaGenerator | None = None) -> Iterator[None]:
    """Run a block; a RagError (or deploy error) inside it is shown instead of raised."""
    try:
        yield
    except Exception as error:  # Streamlit's rerun/stop signals are BaseExceptions and pass
        show_error(error, where)
