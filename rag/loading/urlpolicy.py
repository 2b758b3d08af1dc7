"""Which URLs may be fetched.

On a laptop anything goes (indexing a docs server on localhost is the point).
Hosted on Cloud Run, the Index page must not become a proxy into the private
network: URLs whose host resolves to loopback, link-local (the metadata server
169.254.169.254 included), private or otherwise non-public addresses are refused.
The check runs again on every redirect hop.
"""

from __future__ import annotations

import ipaddress
import socket
from urllib.parse import urlsplit

from ..errors import FetchError


def check_url(url: str, *, allow_private: bool) -> None:
    """Raise FetchError if `url` is malformed or (in hosted mode) points inside the network."""
    parts = urlsplit(url)
    if parts.scheme not in {"http", "https"} or not parts.hostname:
        raise FetchError(
            url, "bad-url", f"{url!r} is not an http(s) URL.", "Use a full URL like https://example.com/page."
        )
    if allow_private:
        return
    for address in _addresses(url, parts.hostname, parts.port):
        if not address.is_global or address.is_multicast:
            raise FetchError(
                url,
                "private-address",
                f"{parts.hostname} resolves to {address}, a private or local address.",
                "The hosted app only indexes public web pages.",
            )


def _addresses(url: str, host: str, port: int | None) -> list[ipaddress.IPv4Address | ipaddress.IPv6Address]:
    try:
        literal = ipaddress.ip_address(host.strip("[]"))
        return [literal]
    except ValueError:
        pass
    try:
        infos = socket.getaddrinfo(host, port or 443, proto=socket.IPPROTO_TCP)
    except socket.gaierror:
        raise FetchError(
            url, "unreachable", f"The host {host} could not be found.", "Check the URL's spelling."
        ) from None
    found = []
    for info in infos:
        address = ipaddress.ip_address(info[4][0].split("%")[0])
        if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped:
            address = address.ipv4_mapped
        found.append(address)
    return found
