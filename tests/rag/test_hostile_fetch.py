"""Hostile input against the loader: each case an attacker (or a broken site) tried, fed exactly.

A hostile server on loopback (tests/servers/hostile.py) serves the secret page an
SSRF would steal, drips, deep pages and garbage. Where a case needs a "public"
address, 127.0.0.2 plays one: `is_global` is patched to say so, and a second
server listens there.
"""

from __future__ import annotations

import ipaddress
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from urllib.parse import quote

import pytest

from rag.errors import Cancelled, FetchError
from rag.loading.fetch import FetchConfig, Fetcher
from rag.loading.loader import WebLoader
from rag.loading.urlpolicy import check_url
from tests.conftest import ROOT
from tests.servers.hostile import HostileServer

HOSTED = FetchConfig(allow_private=False, allow_files=False, timeout=3)
PUBLIC = "127.0.0.2"  # plays a public address in these tests


@pytest.fixture
def hostile():
    with HostileServer() as server:
        yield server


@pytest.fixture
def public(monkeypatch):
    """127.0.0.2 counts as a global address, and a hostile server listens there."""
    real = ipaddress.IPv4Address.__dict__["is_global"].fget
    monkeypatch.setattr(
        ipaddress.IPv4Address, "is_global", property(lambda self: str(self) == PUBLIC or real(self))
    )
    with HostileServer(PUBLIC) as server:
        yield server


def fetch_fails(url: str, config: FetchConfig = HOSTED, **kwargs) -> FetchError:
    with pytest.raises(FetchError) as caught:
        Fetcher(config).get(url, **kwargs)
    return caught.value


# 1. The URL that is checked is the URL that is fetched --------------------------------------


@pytest.mark.parametrize("host", ["127.0.0.1:{port}", "169.254.169.254"])
def test_a_backslash_before_an_at_sign_does_not_hide_the_real_host(hostile, host):
    url = f"http://{host.format(port=hostile.port)}\\@1.1.1.1/secret"
    error = fetch_fails(url)
    assert error.reason == "bad-url" and "backslash" in error.message
    assert hostile.hits == []


def test_the_ipv6_loopback_behind_a_backslash_is_refused_too():
    try:
        server = HostileServer("::1")
    except OSError:
        pytest.skip("no IPv6 loopback here")
    with server:
        error = fetch_fails(f"http://[::1]:{server.port}\\@1.1.1.1/secret")
        assert error.reason == "bad-url" and server.hits == []


@pytest.mark.parametrize(
    "url",
    [
        "http://user@127.0.0.1/",  # user info: who is the host?
        "http://1.1.1.1 @127.0.0.1/",  # whitespace
        "http://1.1.1.1\t/secret",  # control character
        "http://127.0.0.1:80:80/",  # odd ports
        "http://127.0.0.1:+80/",
        "http://127.0.0.1:0x50/",
        "http://127.0.0.1:99999/",
        "http://%31%32%37.0.0.1/",  # percent-encoded host
        "http://2130706433/",  # 127.0.0.1 as one number
        "http://0x7f.1/",
        "http://127.1/",
        "http://[fe80::1%25eth0]/",  # a zone id
    ],
)
def test_urls_that_parsers_read_differently_are_refused(url):
    error = fetch_fails(url)
    assert error.reason == "bad-url", (url, error)


def test_a_redirect_to_a_backslash_url_is_refused_at_the_hop(hostile, public):
    location = quote(f"http://127.0.0.1:{hostile.port}\\@1.1.1.1/secret", safe="")
    error = fetch_fails(f"{public.url}/redirect?to={location}")
    assert error.reason == "bad-url"
    assert public.hits == ["/redirect"] and hostile.hits == []


def test_a_redirect_into_the_private_network_is_refused_at_the_hop(hostile, public):
    error = fetch_fails(f"{public.url}/redirect?to={hostile.url}/secret")
    assert error.reason == "private-address" and hostile.hits == []


def test_a_public_page_is_fetched_in_hosted_mode(public):
    fetched = Fetcher(HOSTED).get(f"{public.url}/page")
    assert b"4 CPUs and 16 GiB" in fetched.body


# 2. DNS rebinding: connect to the address that was checked ------------------------------------


def test_dns_rebinding_connects_to_the_checked_address_with_the_name_kept(hostile, monkeypatch):
    """The name resolves to a "public" address first, to 127.0.0.1 after: only the first is used."""
    with HostileServer(PUBLIC, hostile.port) as decoy:  # same port, the "public" address
        real = ipaddress.IPv4Address.__dict__["is_global"].fget
        monkeypatch.setattr(
            ipaddress.IPv4Address, "is_global", property(lambda self: str(self) == PUBLIC or real(self))
        )
        answers = [PUBLIC, "127.0.0.1"]
        real_getaddrinfo = socket.getaddrinfo

        def rebinding(host, port, *args, **kwargs):
            if host != "rebind.test":
                return real_getaddrinfo(host, port, *args, **kwargs)
            address = answers.pop(0) if len(answers) > 1 else answers[0]
            return [(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP, "", (address, int(port)))]

        monkeypatch.setattr(socket, "getaddrinfo", rebinding)
        fetched = Fetcher(HOSTED).get(f"http://rebind.test:{hostile.port}/secret")
        assert b"TOP SECRET" in fetched.body  # the decoy's copy: the page at the checked address
        assert hostile.hits == [] and decoy.hits == ["/secret"]
        assert decoy.hosts == [f"rebind.test:{hostile.port}"]  # the Host header keeps the name


# 3. IPv6 forms that carry an IPv4 address ------------------------------------------------------


@pytest.mark.parametrize(
    "host",
    [
        "[::7f00:1]",  # IPv4-compatible ::127.0.0.1
        "[::a9fe:a9fe]",  # IPv4-compatible metadata server
        "[64:ff9b::7f00:1]",  # NAT64 of 127.0.0.1
        "[64:ff9b::a9fe:a9fe]",  # NAT64 of 169.254.169.254
        "[64:ff9b:1::808:808]",  # local-use NAT64 (RFC 8215)
        "[2002:7f00:1::]",  # 6to4 of 127.0.0.1
        "[2002:a9fe:a9fe::1]",  # 6to4 of the metadata server
        "[::ffff:0:7f00:1]",  # IPv4-translated 127.0.0.1
        "[::ffff:127.0.0.1]",  # IPv4-mapped
        "[::ffff:a00:1]",  # IPv4-mapped 10.0.0.1
    ],
)
def test_ipv6_addresses_that_embed_a_private_ipv4_are_refused(host):
    with pytest.raises(FetchError) as caught:
        check_url(f"http://{host}/", allow_private=False)
    assert caught.value.reason == "private-address", host


@pytest.mark.parametrize("host", ["[64:ff9b::808:808]", "[2002:808:808::1]", "[::ffff:0:808:808]"])
def test_ipv6_addresses_that_embed_a_public_ipv4_are_allowed(host):
    target = check_url(f"http://{host}/", allow_private=False)
    assert target.addresses and target.path == "/"


def test_a_name_resolving_to_nat64_of_loopback_is_refused(monkeypatch):
    def resolver(host, port, *args, **kwargs):
        address = ("64:ff9b::7f00:1", port, 0, 0)
        return [(socket.AF_INET6, socket.SOCK_STREAM, socket.IPPROTO_TCP, "", address)]

    monkeypatch.setattr(socket, "getaddrinfo", resolver)
    with pytest.raises(FetchError) as caught:
        check_url("http://nat64.test/", allow_private=False)
    assert caught.value.reason == "private-address"


# 4. One policy: the CLI in hosted mode -------------------------------------------------------


@pytest.mark.parametrize("flag", [{"WORKSHOP_HOSTED": "1"}, {"K_SERVICE": "workshop-ui"}])
def test_the_cli_refuses_private_urls_and_files_when_hosted(hostile, tmp_path, monkeypatch, flag):
    from rag.settings import Settings

    for key, value in flag.items():
        monkeypatch.setenv(key, value)
    monkeypatch.setenv("RAG_ALLOW_PRIVATE_URLS", "true")  # hosted mode wins
    settings = Settings.from_env()
    assert settings.allow_private_urls is False
    page = tmp_path / "notes.md"
    page.write_text("# Notes\nsecret notes\n")
    args = ["index", f"{hostile.url}/secret", str(page), "--save", str(tmp_path / "x")]
    result = subprocess.run(
        [sys.executable, "-m", "rag", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        env={k: v for k, v in os.environ.items() if k not in ("WORKSHOP_HOSTED", "K_SERVICE")} | flag,
    )
    assert result.returncode == 1, result.stderr[-2000:]
    assert "private or local address" in result.stdout and "Local files cannot be indexed" in result.stdout
    assert hostile.hits == [] and not (tmp_path / "x").exists()


# 5. The timeout bounds the whole fetch; a stop ends it at once ---------------------------------


@pytest.mark.parametrize("path", ["/drip-body", "/drip-headers"])
def test_a_dripping_server_is_cut_off_at_the_timeout(hostile, path):
    started = time.monotonic()
    error = fetch_fails(f"{hostile.url}{path}?interval=0.3", FetchConfig(timeout=2))
    elapsed = time.monotonic() - started
    assert error.reason == "timeout" and "longer than 2 s" in error.message
    assert elapsed < 2 + 2, elapsed


@pytest.mark.parametrize("path", ["/drip-body", "/drip-headers"])
def test_a_stop_ends_a_dripping_fetch_within_a_second(hostile, path):
    cancel = threading.Event()
    threading.Timer(1.0, cancel.set).start()
    started = time.monotonic()
    error = fetch_fails(f"{hostile.url}{path}?interval=0.2", FetchConfig(timeout=60), cancel=cancel)
    assert error.reason == "cancelled" and time.monotonic() - started < 1.0 + 1.0
    # Through the loader, as the Index page and the CLI stop it: the load ends, and so does the fetch.
    hostile.gone.clear()
    cancel = threading.Event()
    threading.Timer(1.0, cancel.set).start()
    started = time.monotonic()
    with pytest.raises(Cancelled):
        list(WebLoader(FetchConfig(timeout=60)).load([f"{hostile.url}{path}?interval=0.2"], cancel=cancel))
    assert time.monotonic() - started < 1.0 + 1.0
    deadline = time.monotonic() + 3
    while path not in hostile.gone and time.monotonic() < deadline:
        time.sleep(0.05)
    assert hostile.gone[path] - started < 1.0 + 1.0  # the server saw the client leave


def test_ctrl_c_in_the_cli_ends_the_fetch_within_a_second(hostile, tmp_path):
    args = ["index", f"{hostile.url}/drip-body?interval=0.1", "--save", str(tmp_path / "x")]
    process = subprocess.Popen(
        [sys.executable, "-m", "rag", *args],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "RAG_FETCH_TIMEOUT": "120"},
    )
    try:
        deadline = time.monotonic() + 240  # the CLI imports torch first
        while "/drip-body" not in hostile.hits and time.monotonic() < deadline:
            time.sleep(0.05)
        assert "/drip-body" in hostile.hits, "the CLI never started the fetch"
        time.sleep(0.5)
        sent = time.monotonic()
        process.send_signal(signal.SIGINT)
        _, stderr = process.communicate(timeout=60)
        exited = time.monotonic()
    finally:
        process.kill()
    assert process.returncode == 130 and "stopped" in stderr and "Traceback" not in stderr, stderr[-2000:]
    deadline = time.monotonic() + 2
    while "/drip-body" not in hostile.gone and time.monotonic() < deadline:
        time.sleep(0.05)
    assert hostile.gone["/drip-body"] - sent < 1.0  # the connection closed within a second
    # The process ends too; interpreter shutdown (garbage-collecting torch and friends) takes
    # seconds of its own on a busy machine, so this bound is loose.
    assert exited - sent < 30.0


# 6. Extraction is linear and bounded in depth --------------------------------------------------


@pytest.mark.parametrize("path", ["/deep?n=100000", "/unclosed?n=50000"])
def test_deeply_nested_pages_are_refused_quickly(hostile, path):
    loader = WebLoader(FetchConfig())
    started = time.monotonic()
    result = loader.load_one(f"{hostile.url}{path}")
    assert time.monotonic() - started < 5.0
    assert result.error is not None and result.error.reason == "too-deep", result.error


# 7. Binary and undecodable content is skipped with a reason ------------------------------------


@pytest.mark.parametrize(
    "path", ["/random?type=text/html", "/random?type=text/plain", "/random?type=none", "/utf16"]
)
def test_binary_and_undecodable_pages_are_skipped_with_a_reason(hostile, path):
    [result] = WebLoader(FetchConfig()).load([f"{hostile.url}{path}"])
    assert not result.ok and result.error.reason in {"binary", "unsupported-type"}, result.error
    assert "not readable text" in result.error.message or "not a web page" in result.error.message


def test_random_bytes_labelled_as_html_are_binary(hostile):
    error = fetch_fails(f"{hostile.url}/random?type=text/html", FetchConfig())
    assert error.reason == "binary"


def test_utf16_with_a_byte_order_mark_is_read(hostile):
    [result] = WebLoader(FetchConfig()).load([f"{hostile.url}/utf16?bom=1"])
    assert result.ok and result.title == "Wide page"
    assert "encoded in UTF-16" in result.documents[0].page_content


# 4 (and issue 10): the sidebar's model URL obeys the same policy when hosted ---------------------


def test_the_sidebar_refuses_a_private_model_url_when_hosted(hostile, monkeypatch):
    from streamlit.testing.v1 import AppTest

    monkeypatch.setenv("WORKSHOP_HOSTED", "1")
    at = AppTest.from_file(str(ROOT / "streamlit_app.py"), default_timeout=180)
    at.run()
    at.radio(key="conn_kind").set_value("ollama").run()
    at.text_input(key="conn_url_ollama").set_value(hostile.url).run()
    errors = " ".join(e.value for e in at.error)
    assert "private or local address" in errors and "public model servers" in errors
    assert at.session_state["settings"].llm == "embedded"  # the target did not change
    assert hostile.hits == []


def test_https_to_a_pinned_address_keeps_the_tls_name(public, tmp_path, monkeypatch):
    """SNI and the certificate check use the URL's name, though the connection goes to an address."""
    import ssl

    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    name = ["-subj", "/CN=pinned.test", "-addext", "subjectAltName=DNS:pinned.test"]
    files = ["-keyout", str(key), "-out", str(cert)]
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", *name, *files],
        check=True,
        capture_output=True,
    )
    names: list[str | None] = []
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    context.sni_callback = lambda sock, name, ctx: names.append(name)
    real_getaddrinfo = socket.getaddrinfo

    def resolver(host, port, *args, **kwargs):
        if host.endswith(".test"):
            return [(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP, "", (PUBLIC, int(port)))]
        return real_getaddrinfo(host, port, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", resolver)
    config = FetchConfig(allow_private=False, timeout=5, ca_certs=str(cert))
    with HostileServer(PUBLIC, tls=context) as server:
        fetched = Fetcher(config).get(f"https://pinned.test:{server.port}/page")
        assert "4 CPUs" in fetched.text and fetched.url == f"https://pinned.test:{server.port}/page"
        assert names == ["pinned.test"] and server.hosts == [f"pinned.test:{server.port}"]
        error = fetch_fails(f"https://other.test:{server.port}/page", config)  # same address, wrong name
        assert error.reason == "unreachable" and "certificate" in error.message
