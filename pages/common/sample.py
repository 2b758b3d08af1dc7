"""The bundled sample guide, served on loopback so it is indexed as real web pages.

Served from this process (one server for all sessions), its source links open in
a browser on the machine running the app, and indexing it needs no network.
"""

from __future__ import annotations

import functools
import threading
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import streamlit as st

FOLDER = Path(__file__).resolve().parent.parent.parent / "sample_docs"


class _Quiet(SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:
        pass


@st.cache_resource(show_spinner=False)
def sample_url() -> str:
    """The guide's start page, e.g. http://127.0.0.1:43121/index.html."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(_Quiet, directory=str(FOLDER)))
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, name="sample-guide", daemon=True).start()
    host, port = server.server_address[:2]
    return f"http://{host}:{port}/index.html"
