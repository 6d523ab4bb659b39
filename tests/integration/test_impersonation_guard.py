"""Browser impersonation (curl_cffi) behind the address guard: libcurl is pinned to checked addresses and
every redirect hop is checked again, so a refused host gets no connection at all.

Real yt-dlp with our downloader's request handlers, real curl_cffi, loopback servers; the private address
is this machine's own non-loopback interface (a server listening on all interfaces answers there).
"""

from __future__ import annotations

import socket

import pytest
from yt_dlp.networking import Request
from yt_dlp.networking.impersonate import ImpersonateTarget

from chalicelib.errors import BlockedUrlError
from chalicelib.local.samples import MediaServer
from chalicelib.media.download import YtDlpDownloader, youtube_dl
from chalicelib.netguard import guarded_connections
from chalicelib.platforms import get_platform

CHROME = ImpersonateTarget("chrome")


def own_private_address() -> str:
    """The address of this machine's interface towards the outside (no packet is sent)."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        try:
            probe.connect(("192.0.2.1", 9))
        except OSError:
            pytest.skip("no network interface besides loopback")
        return probe.getsockname()[0]


@pytest.fixture
def server(media_dir):
    server = MediaServer(media_dir, host="0.0.0.0").start()
    yield server
    server.stop()


def fetch(url: str, *, allow_loopback: bool):
    request = Request(url, extensions={"impersonate": CHROME})
    with (guarded_connections(allow_loopback=allow_loopback), youtube_dl({"quiet": True}) as ydl,
          ydl.urlopen(request) as response):
        return response.status, response.extensions.get("impersonate")


def refused(url: str, *, allow_loopback: bool) -> BaseException:
    with pytest.raises(Exception) as caught:
        fetch(url, allow_loopback=allow_loopback)
    pending = [caught.value]  # yt-dlp keeps a handler's own error under NoSupportingHandlers, as its context
    while pending:
        exc = pending.pop()
        if isinstance(exc, BlockedUrlError):
            return exc
        pending += [e for e in (exc.__cause__, exc.__context__, *getattr(exc, "unexpected_errors", ())) if e]
    raise AssertionError(f"not refused by the guard: {caught.value!r}")


def test_impersonation_is_offered_by_our_downloader():
    with youtube_dl({"quiet": True}) as ydl:
        targets = ydl._get_available_impersonate_targets()  # what --list-impersonate-targets prints
    assert {target.client for target, _ in targets} >= {"chrome", "safari"}


def test_with_loopback_refused_no_connection_reaches_a_loopback_or_private_server(server):
    port = server.httpd.server_address[1]
    private = own_private_address()
    before = server.connections
    # a name that resolves to 127.0.0.1, and a private address
    assert "loopback" in str(refused(f"http://localhost:{port}/files/x", allow_loopback=False))
    assert "private" in str(refused(f"http://{private}:{port}/files/x", allow_loopback=False))
    # a redirect that leads there is refused at its first hop, itself on loopback
    assert "loopback" in str(refused(f"http://127.0.0.1:{port}/redirect?to=http://localhost:{port}/files/x",
                                     allow_loopback=False))
    assert server.connections == before
    assert server.hits() == 0


def test_a_redirect_to_a_private_address_is_checked_at_its_hop_not_followed_by_libcurl(server):
    port = server.httpd.server_address[1]
    private = own_private_address()
    error = refused(f"http://localhost:{port}/redirect?to=http://{private}:{port}/headers", allow_loopback=True)
    assert private in str(error)
    assert server.hits("/redirect") == 1
    assert server.hits("/headers") == 0


def test_with_loopback_allowed_the_server_sees_the_impersonated_browser(server):
    port = server.httpd.server_address[1]
    status, target = fetch(f"http://localhost:{port}/redirect?to=/page/seen.mp4", allow_loopback=True)
    assert (status, target.client) == (200, "chrome")
    headers = server.headers_of("/page/seen.mp4")
    assert "Chrome/" in headers["user-agent"]
    assert "sec-ch-ua" in headers  # a header only Chromium sends; yt-dlp's own client does not
    assert server.hits("/redirect") == 1


def test_a_probe_through_our_downloader_impersonates_when_asked(server, media_dir):
    port = server.httpd.server_address[1]
    generic = get_platform("generic")
    info = YtDlpDownloader().probe(f"http://localhost:{port}/page/clip.mp4", options={"impersonate": CHROME},
                                   allow_loopback=True, classify=generic.classify_error)
    assert info["title"].startswith("Sample page: clip.mp4")
    assert "Chrome/" in server.headers_of("/page/clip.mp4")["user-agent"]
