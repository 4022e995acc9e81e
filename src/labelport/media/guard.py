"""The SSRF guard: which network addresses a media URL may make us connect to.

A user who can make the server fetch a URL could otherwise reach the cloud metadata service
(169.254.169.254), the database on 10.x, or an admin page on localhost. The guard works on
*resolved addresses*, not on host names: `resolve_checked` resolves the host once, refuses if
ANY address is non-public, and returns the addresses; the fetcher then connects to exactly one
of those addresses (see `labelport.media.fetch`), so a second DNS answer cannot swap in a
private address between the check and the connection (DNS rebinding).
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Callable, Iterable

from labelport.media.errors import URL_REFUSED, FetchError

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
# (host, port) -> addresses as strings. Injectable so tests (and deployments with their own
# DNS policy) can decide resolution without touching the network.
Resolver = Callable[[str, int], list[str]]

# Listed explicitly rather than trusting `is_global` alone: its exact coverage has changed
# between Python versions, and multicast counts as "global" there.
_BLOCKED_NETWORKS = tuple(
    ipaddress.ip_network(n)
    for n in (
        "0.0.0.0/8",  # "this network"; 0.0.0.0 reaches localhost on Linux
        "10.0.0.0/8",
        "100.64.0.0/10",  # carrier-grade NAT
        "127.0.0.0/8",
        "169.254.0.0/16",  # link-local, cloud metadata
        "172.16.0.0/12",
        "192.0.0.0/24",
        "192.0.2.0/24",
        "192.88.99.0/24",  # 6to4 relay anycast
        "192.168.0.0/16",
        "198.18.0.0/15",
        "198.51.100.0/24",
        "203.0.113.0/24",
        "224.0.0.0/4",  # multicast
        "240.0.0.0/4",  # reserved, incl. broadcast
        "::/128",
        "::1/128",
        "64:ff9b:1::/48",  # local-use NAT64
        "100::/64",  # discard-only
        "2001:db8::/32",  # documentation
        "fc00::/7",  # unique local
        "fe80::/10",  # link-local
        "fec0::/10",  # deprecated site-local
        "ff00::/8",  # multicast
    )
)

# IPv6 forms that carry an IPv4 address which the kernel (or a translator) may end up using.
_NAT64 = ipaddress.ip_network("64:ff9b::/96")


def _embedded_ipv4(ip: ipaddress.IPv6Address) -> tuple[ipaddress.IPv4Address, bool] | None:
    """The IPv4 address carried by ``ip``, and whether it is the real destination.

    For IPv4-mapped, NAT64 and IPv4-compatible forms the connection really goes to the IPv4
    address, so its verdict is the verdict. For 6to4 and Teredo the packet goes to a relay;
    a private embedded address is still refused, but a public one does not clear the outer one.
    """
    if ip.ipv4_mapped is not None:
        return ip.ipv4_mapped, True
    if ip in _NAT64:
        return ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF), True
    if ip.sixtofour is not None:
        return ip.sixtofour, False
    if ip.teredo is not None:
        return ip.teredo[1], False  # the client's address
    if int(ip) >> 32 == 0 and int(ip) > 1:  # ::a.b.c.d, deprecated but still routed by some
        return ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF), True
    return None


def address_refusal(ip: IPAddress | str) -> str | None:
    """Why ``ip`` must not be connected to (a short reason), or None if it is public."""
    if isinstance(ip, str):
        ip = ipaddress.ip_address(ip.split("%", 1)[0])  # drop an IPv6 zone id
    if isinstance(ip, ipaddress.IPv6Address):
        embedded = _embedded_ipv4(ip)
        if embedded is not None:
            inner_ip, is_destination = embedded
            inner = address_refusal(inner_ip)
            if inner is not None:
                return f"{ip} embeds {inner_ip}, {inner}"
            if is_destination:
                return None
    for network in _BLOCKED_NETWORKS:
        if ip.version == network.version and ip in network:
            return _describe(ip)
    if not ip.is_global or ip.is_multicast or ip.is_reserved:
        return _describe(ip)
    return None


def _describe(ip: IPAddress) -> str:
    if ip.is_unspecified:
        return "an unspecified address"
    if ip.is_loopback:
        return "a loopback address"
    if ip.is_link_local:
        return "a link-local address"
    if ip.is_multicast:
        return "a multicast address"
    if ip.is_private:
        return "a private address"
    if ip.is_reserved:
        return "a reserved address"
    return "not a public address"


def system_resolver(host: str, port: int) -> list[str]:
    """All addresses ``host`` resolves to, via the system resolver, in its preferred order."""
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    seen: dict[str, None] = {}
    for _family, _type, _proto, _canon, sockaddr in infos:
        seen.setdefault(str(sockaddr[0]), None)
    return list(seen)


def parse_ip_literal(host: str) -> IPAddress | None:
    """The address if ``host`` is an IP literal (``[::1]`` brackets allowed), else None."""
    try:
        return ipaddress.ip_address(host.strip("[]").split("%", 1)[0])
    except ValueError:
        return None


def resolve_checked(
    host: str,
    port: int,
    *,
    allow_private: bool = False,
    trusted_hosts: Iterable[str] = (),
    resolver: Resolver = system_resolver,
) -> list[str]:
    """Resolve ``host`` and return its addresses, refusing if any address is not public.

    ``allow_private`` turns the address check off entirely (trusted networks, tests).
    ``trusted_hosts`` turns it off for those exact host names only (e.g. an internal media
    server), while everything else - including redirect targets - stays guarded.

    Raises `FetchError` with code ``media.url_refused`` (refused address) or
    ``media.fetch_failed`` (the name does not resolve).
    """
    literal = parse_ip_literal(host)
    if literal is not None:
        addresses = [str(literal)]
    else:
        try:
            addresses = resolver(host, port)
        except (OSError, UnicodeError) as exc:
            raise FetchError("media.fetch_failed", f"cannot resolve host {host!r}: {exc}") from None
        if not addresses:
            raise FetchError("media.fetch_failed", f"host {host!r} resolves to no address")
    if allow_private or host.lower() in {h.lower() for h in trusted_hosts}:
        return addresses
    for address in addresses:
        try:
            reason = address_refusal(address)
        except ValueError:
            reason = "not an IP address"
        if reason is not None:
            shown = host if literal is not None else f"{host} ({address})"
            raise FetchError(
                URL_REFUSED, f"refusing to fetch from {shown}: {reason} (private networks blocked)"
            )
    return addresses
