"""Links we may fetch: http(s) only, and never to private, loopback, link-local or metadata addresses.

``check_url`` refuses a link at capture time. ``guarded_connections`` enforces the same rule on
every connection a downloader opens in this thread (redirects, fragment and embedded URLs, DNS
answers that change between check and fetch), because it filters name resolution itself.
"""

from __future__ import annotations

import ipaddress
import socket
import threading
from contextlib import contextmanager
from urllib.parse import urlsplit

from chalicelib.errors import BlockedUrlError, UnsupportedUrlError

_real_getaddrinfo = socket.getaddrinfo
_guard = threading.local()
_install_lock = threading.Lock()
_NAT64 = ipaddress.IPv6Network("64:ff9b::/96")


def address_problem(address: str, *, allow_loopback: bool) -> str | None:
    """Why an IP address may not be fetched, or None when it is a public address."""
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if isinstance(ip, ipaddress.IPv6Address):
        embedded = ip.ipv4_mapped or ip.sixtofour or (ip.teredo[1] if ip.teredo else None) or _nat64(ip)
        if embedded is not None:
            return address_problem(str(embedded), allow_loopback=allow_loopback)
    if ip.is_loopback:
        return None if allow_loopback else "loopback"
    for problem in ("link_local", "private", "multicast", "reserved", "unspecified", "site_local"):
        if getattr(ip, f"is_{problem}", False):
            return problem.replace("_", "-")
    if not ip.is_global:
        return "not-global"
    return None


def _nat64(ip: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    """The IPv4 address a NAT64 gateway would reach for this address (64:ff9b::/96)."""
    return ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF) if ip in _NAT64 else None


def resolve_host(host: str, port: int | None = None) -> list[str]:
    try:
        infos = _real_getaddrinfo(host, port or 443, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError) as exc:
        raise UnsupportedUrlError(f"the host {host!r} does not resolve") from exc
    return sorted({info[4][0] for info in infos})


def check_url(url: str, *, allow_loopback: bool) -> None:
    """Refuse a link whose scheme is not http(s) or whose host resolves to a forbidden address."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise UnsupportedUrlError("only http and https links can be captured")
    for address in resolve_host(parts.hostname, parts.port):
        problem = address_problem(address, allow_loopback=allow_loopback)
        if problem:
            raise BlockedUrlError(f"{parts.hostname} resolves to a {problem} address ({address}), which is refused")


def _guarded_getaddrinfo(host, port, *args, **kwargs):
    infos = _real_getaddrinfo(host, port, *args, **kwargs)
    policy = getattr(_guard, "allow_loopback", None)
    if policy is None:
        return infos
    for info in infos:
        problem = address_problem(info[4][0], allow_loopback=policy)
        if problem:
            raise BlockedUrlError(f"{host} resolves to a {problem} address ({info[4][0]}), which is refused")
    return infos


@contextmanager
def guarded_connections(*, allow_loopback: bool):
    """Within the block, this thread cannot open a connection to a forbidden address."""
    with _install_lock:
        if socket.getaddrinfo is not _guarded_getaddrinfo:
            socket.getaddrinfo = _guarded_getaddrinfo
    previous = getattr(_guard, "allow_loopback", None)
    _guard.allow_loopback = allow_loopback
    try:
        yield
    finally:
        _guard.allow_loopback = previous
