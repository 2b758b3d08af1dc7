"""Shared fixtures: real servers on loopback, and the real local models loaded once."""

from __future__ import annotations

import signal
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.servers.google_auth import FakeGoogleAuth
from tests.servers.ollama import FakeOllama
from tests.servers.site import SiteServer, reply, stall

ROOT = Path(__file__).resolve().parent.parent

# A shell without job control starts a background job with Ctrl-C ignored, and an ignored
# signal stays ignored in every child: the CLIs' Ctrl-C tests would then send SIGINT to
# processes that never see it. The tests ask for the terminal's default.
if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
    signal.signal(signal.SIGINT, signal.default_int_handler)
SAMPLE_DOCS = ROOT / "sample_docs"

# Pages that misbehave the way real sites do, served beside the sample corpus.
FAILURES = {
    "/missing.html": reply(404, b"<html><body>Not found</body></html>"),
    "/broken.html": reply(500, b"<html><body>Internal error</body></html>"),
    "/loop-a.html": reply(302, location="/loop-b.html"),
    "/loop-b.html": reply(302, location="/loop-a.html"),
    "/moved.html": reply(301, location="/gemma.html"),
    "/report.pdf": reply(200, b"%PDF-1.7\n" + b"0" * 2000, "application/pdf"),
    "/logo.png": reply(200, b"\x89PNG\r\n\x1a\n" + b"\x00" * 100, "image/png"),
    "/huge.html": reply(200, b"<html><body><p>" + b"x" * 300_000 + b"</p></body></html>"),
    "/empty.html": reply(200, b"<html><head><title>Empty</title></head><body></body></html>"),
    "/malformed.html": reply(
        200,
        b"<html><head><title>Broken markup</title><body><h1 id=top>Broken markup<p>Unclosed "
        b"<b>tags <div>and <table><tr><td>cells</p><h2>Still readable</h2><p>Text after "
        b"the mess survives.</p",
    ),
    "/no-type": reply(200, b"<!DOCTYPE html><html><body><p>Sniffed as HTML.</p></body></html>", None),
    "/slow.html": stall(3.0),
}


@pytest.fixture
def site() -> Iterator[SiteServer]:
    with SiteServer(SAMPLE_DOCS, extra=FAILURES) as server:
        yield server


@pytest.fixture
def ollama() -> Iterator[FakeOllama]:
    with FakeOllama() as server:
        yield server


@pytest.fixture
def google_auth() -> Iterator[FakeGoogleAuth]:
    with FakeGoogleAuth() as server:
        yield server


@pytest.fixture(scope="session")
def local_embeddings():
    from rag.embeddings.local import LocalEmbeddings

    return LocalEmbeddings()


@pytest.fixture(scope="session")
def embedded_target():
    from rag.llms.embedded import EmbeddedTarget

    return EmbeddedTarget()
