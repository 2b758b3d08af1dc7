"""Which URLs may be fetched, parsed once into exactly what will be fetched.

On a laptop anything goes (indexing a docs server on localhost is the point).
Hosted (see `rag.settings.is_hosted`), the app must not become a proxy into the
private network: URLs whose host resolves to loopback, link-local (the metadata
server 169.254.169.254 included), private or otherwise non-public addresses are
refused, also when the address hides an IPv4 one inside IPv6 (NAT64, 6to4, mapped).

`check_url` parses a URL strictly and returns a `Target`: the host, port, request
path and the addresses the host resolved to. The fetcher connects to those very
addresses (so a second DNS answer cannot differ from the checked one) and sends
that very path. URLs that parsers read differently are refused outright:
backslashes, user info (`user@host`), control characters, spaces in the host,
percent signs or odd numbers in the host, and ports that are not plain numbers.
Spaces and other characters in the path are %-encoded, as browsers do.
"""

from __future__ import annotations

import ipaddress
import re
import socket
from dataclasses import dataclass
from urllib.parse import quote, urljoin, urlsplit

from ..errors import FetchError

Address = ipaddress.IPv4Address | ipaddress.IPv6Address
DEFAULT_PORTS = {"http": 80, "https": 443}
_AUTHORITY = re.compile(r"^(?:\[(?P<ip6>[0-9A-Fa-f:.]+)\]|(?P<host>[^\[\]:@%]+))(?::(?P<port>[0-9]{1,5}))?$")
_UNSAFE = re.compile(r"[\x00-\x1f\x7f\\]")  # anywhere; a space only in the host part
_NUMERIC_LABEL = re.compile(r"^(?:0x[0-9a-f]*|[0-9]+)$", re.I)
_NAT64 = ipaddress.IPv6Network("64:ff9b::/96")
_NAT64_LOCAL = ipaddress.IPv6Network("64:ff9b:1::/48")  # RFC 8215: local use only
_TRANSLATED = ipaddress.IPv6Network("::ffff:0:0:0/96")  # RFC 2765 IPv4-translated
_COMPATIBLE = ipaddress.IPv6Network("::/96")  # deprecated IPv4-compatible
# The request path keeps what is already valid (reserved characters, %-escapes).
_PATH_SAFE = "/?#[]@!$&'()*+,;=:%-._~"


@dataclass(frozen=True)
class Target:
    """One URL as it will be fetched: connect to `addresses`, send `Host: netloc` and `path`."""

    scheme: str
    host: str  # lower-case, ASCII (IDNA), IPv6 without brackets
    port: int
    path: str  # path and query, percent-encoded, never empty
    addresses: tuple[Address, ...] = ()  # empty: resolve when connecting (laptop mode)

    @property
    def netloc(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return host if self.port == DEFAULT_PORTS[self.scheme] else f"{host}:{self.port}"

    @property
    def url(self) -> str:
        return f"{self.scheme}://{self.netloc}{self.path}"


def check_url(url: str, *, allow_private: bool) -> Target:
    """Parse `url` strictly; raise FetchError if it is malformed or (hosted) points inside the network."""
    target = parse_url(url)
    if allow_private:
        return target
    addresses = tuple(resolve(url, target.host, target.port))
    for address in addresses:
        if not is_public(address):
            raise FetchError(
                url,
                "private-address",
                f"{target.host} resolves to {address}, a private or local address.",
                "The hosted app only indexes public web pages.",
            )
    return Target(target.scheme, target.host, target.port, target.path, addresses)


def parse_url(url: str) -> Target:
    """The one parse of an http(s) URL; anything ambiguous is a `bad-url` FetchError."""
    if _UNSAFE.search(url):
        raise _bad(url, "it holds a backslash or a control character")
    try:
        parts = urlsplit(url)
    except ValueError:  # unbalanced IPv6 brackets
        raise _bad(url, "its host is malformed") from None
    scheme = parts.scheme.lower()
    if scheme not in DEFAULT_PORTS or not parts.netloc:
        raise _bad(url, "it is not an http(s) URL")
    if "@" in parts.netloc:
        raise _bad(url, "it holds user info (name@host)")
    if " " in parts.netloc or url != url.strip():
        raise _bad(url, "it holds a space around or in its host")
    match = _AUTHORITY.match(parts.netloc)
    if match is None:
        raise _bad(url, "its host or port is malformed")
    port = int(match["port"]) if match["port"] else DEFAULT_PORTS[scheme]
    if not 0 < port < 65536:
        raise _bad(url, f"port {port} is out of range")
    host = _host(url, match["ip6"], match["host"])
    path = request_path(parts.path)
    if parts.query:
        path += "?" + request_path(parts.query)
    return Target(scheme, host, port, path)


def request_path(path: str) -> str:
    """A URL path (or query) as it is sent: spaces and other characters %-encoded, escapes kept."""
    return quote(path or "/", safe=_PATH_SAFE)


def _host(url: str, ip6: str | None, name: str | None) -> str:
    if ip6 is not None:
        try:
            return str(ipaddress.IPv6Address(ip6))
        except ValueError:
            raise _bad(url, f"[{ip6}] is not an IPv6 address") from None
    assert name is not None
    try:
        host = name.lower().rstrip(".").encode("idna").decode("ascii").lower()
    except UnicodeError:
        raise _bad(url, f"{name!r} is not a valid host name") from None
    if _NUMERIC_LABEL.match(host.rsplit(".", 1)[-1]):  # browsers read such a host as an IPv4 number
        try:
            return str(ipaddress.IPv4Address(host))
        except ValueError:
            raise _bad(url, f"{host} is a number but not a dotted IPv4 address") from None
    return host


def is_public(address: Address) -> bool:
    """A global unicast address; IPv6 forms that carry an IPv4 address are judged by it."""
    if isinstance(address, ipaddress.IPv6Address):
        if address in _NAT64_LOCAL:
            return False
        embedded = _embedded_ipv4(address)
        if embedded is not None:
            address = embedded
    return address.is_global and not address.is_multicast


def _embedded_ipv4(address: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    if address.ipv4_mapped is not None:
        return address.ipv4_mapped
    if address.sixtofour is not None:
        return address.sixtofour
    if address in _NAT64 or address in _TRANSLATED or address in _COMPATIBLE:
        return ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    return None


def resolve(url: str, host: str, port: int) -> list[Address]:
    """Every address the host resolves to, once; the fetcher connects to these and no others."""
    try:
        return [ipaddress.ip_address(host)]
    except ValueError:
        pass
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, proto=socket.IPPROTO_TCP)
    except (socket.gaierror, UnicodeError):
        raise FetchError(
            url, "unreachable", f"The host {host} could not be found.", "Check the URL's spelling."
        ) from None
    found: list[Address] = []
    for info in infos:
        address = ipaddress.ip_address(str(info[4][0]).split("%")[0])
        if address not in found:
            found.append(address)
    return found


def _bad(url: str, why: str) -> FetchError:
    return FetchError(
        url,
        "bad-url",
        f"{url!r} cannot be fetched: {why}.",
        "Use a plain URL like https://example.com/page, with any special characters %-encoded.",
    )


def join_url(base: str, href: str) -> str | None:
    """`href` read against `base`, or None when it is no URL at all: "http://[::1",
    "ftp://[user@]host/" (Vim's help writes that as a placeholder). One such link on a page
    must cost that link, not the page."""
    try:
        return urljoin(base, href)
    except ValueError:
        return None
