"""curl_cffi (browser impersonation, which TikTok and Instagram want) behind the address guard.

libcurl resolves names and follows redirects itself, where ``netguard.guarded_connections`` (a filter on
Python's name resolution) cannot see them. So this handler resolves and checks each host with the guard's
rule and pins libcurl to exactly those addresses (CURLOPT_RESOLVE), turns libcurl's own redirects off and
follows them here, one checked hop at a time, and ignores proxies from the environment. A refused host
raises before libcurl opens a connection: not a byte reaches it.
"""

from __future__ import annotations

import ipaddress
import socket
from functools import cache
from urllib.parse import urljoin, urlsplit

from chalicelib import netguard

MAX_REDIRECTS = 5


@cache
def pinned_curl_handler() -> type | None:
    """yt-dlp's curl_cffi request handler, pinned; None when curl_cffi is missing or a version yt-dlp refuses."""
    try:
        from yt_dlp.networking._curlcffi import CurlCFFIRH
    except ImportError:
        return None
    import curl_cffi.requests
    from curl_cffi.const import CurlOpt
    from yt_dlp.networking._helper import get_redirect_method
    from yt_dlp.networking.exceptions import HTTPError, TransportError

    class PinnedSession(curl_cffi.requests.Session):
        def request(self, method, url, **kwargs):
            parts = urlsplit(url)
            port = parts.port or (443 if parts.scheme == "https" else 80)
            try:
                addresses = netguard.pinned_addresses(parts.hostname, port)
            except socket.gaierror as exc:
                raise TransportError(f"{parts.hostname} does not resolve", cause=exc) from exc
            if not _is_address(parts.hostname):
                pinned = ",".join(f"[{a}]" if ":" in a else a for a in addresses)
                self.curl_options = {**self.curl_options, CurlOpt.RESOLVE: [f"{parts.hostname}:{port}:{pinned}"]}
            return super().request(method, url, allow_redirects=False, **kwargs)

    class PinnedCurlCFFIRH(CurlCFFIRH):
        """Every connection to an address the guard allows; redirects followed by us, each hop checked again."""

        def _create_instance(self, cookiejar=None):
            return PinnedSession(cookies=cookiejar, trust_env=False)

        def _send(self, request):
            for _ in range(MAX_REDIRECTS):
                try:
                    return super()._send(request)
                except HTTPError as error:
                    location = error.response.headers.get("Location")
                    if not (300 <= error.status < 400 and location):
                        raise
                    error.response.close()
                    request = _redirected(request, error.status, urljoin(request.url, location))
            return super()._send(request)  # one redirect too many answers as the 3xx it is

    def _redirected(request, status: int, url: str):
        method = get_redirect_method(request.method, status)
        follow = request.copy()
        follow.url = url
        if method != request.method:
            follow.method, follow.data = method, None
            follow.headers.pop("Content-Type", None)
        return follow

    return PinnedCurlCFFIRH


def _is_address(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True
