"""The address guard: which addresses may be fetched, in every spelling, and the per-thread connection filter.

Only loopback and literal addresses are resolved here: nothing leaves the machine.
"""

from __future__ import annotations

import socket
import threading

import pytest

from chalicelib.config import load_settings
from chalicelib.errors import BlockedUrlError, UnsupportedUrlError
from chalicelib.netguard import address_problem, check_url, guarded_connections


@pytest.mark.parametrize(("address", "problem"), [
    ("127.0.0.1", "loopback"),
    ("::1", "loopback"),
    ("169.254.169.254", "link-local"),
    ("fe80::1", "link-local"),
    ("10.0.0.1", "private"),
    ("172.16.5.4", "private"),
    ("192.168.1.1", "private"),
    ("fd00::1", "private"),
    ("100.64.0.1", "not-global"),
    ("0.0.0.0", "private"),
    ("224.0.0.1", "multicast"),
    ("240.0.0.1", "private"),
    ("::ffff:127.0.0.1", "loopback"),
    ("::ffff:169.254.169.254", "link-local"),
    ("64:ff9b::a9fe:a9fe", "link-local"),
    ("2002:a9fe:a9fe::1", "link-local"),
    ("93.184.216.34", None),
    ("2606:2800:220:1:248:1893:25c8:1946", None),
])
def test_address_problem_names_what_is_refused(address, problem):
    assert address_problem(address, allow_loopback=False) == problem


def test_loopback_is_allowed_only_when_asked():
    assert address_problem("127.0.0.1", allow_loopback=True) is None
    assert address_problem("::ffff:127.0.0.1", allow_loopback=True) is None
    assert address_problem("169.254.169.254", allow_loopback=True) == "link-local"


@pytest.mark.parametrize("url", [
    "http://127.0.0.1/video.mp4",
    "http://0x7f000001/video.mp4",
    "http://2130706433/video.mp4",
    "http://127.1:8080/video.mp4",
    "http://[::1]/video.mp4",
    "http://[::ffff:127.0.0.1]/video.mp4",
    "http://localhost/video.mp4",
    "http://169.254.169.254/latest/meta-data/",
    "http://[::ffff:a9fe:a9fe]/latest/meta-data/",
    "http://10.0.0.1/video.mp4",
])
def test_check_url_refuses_private_addresses_in_any_spelling(url):
    with pytest.raises(BlockedUrlError) as caught:
        check_url(url, allow_loopback=False)
    assert caught.value.code == "blocked_url"


@pytest.mark.parametrize("url", ["ftp://example.com/a.mp4", "file:///etc/passwd", "http:///nohost", "javascript:x"])
def test_check_url_refuses_other_schemes(url):
    with pytest.raises(UnsupportedUrlError):
        check_url(url, allow_loopback=True)


def test_guard_refuses_at_name_resolution_in_its_thread_only():
    # GIVEN a guarded block in this thread
    with guarded_connections(allow_loopback=False):
        # WHEN this thread resolves a metadata address, THEN it is refused before any connection
        with pytest.raises(BlockedUrlError):
            socket.getaddrinfo("169.254.169.254", 80)
        with pytest.raises(BlockedUrlError):
            socket.create_connection(("0x7f000001", 9), timeout=1)
        # AND another thread (boto3 talking to a local endpoint, say) is not filtered
        answers = []
        other = threading.Thread(target=lambda: answers.append(socket.getaddrinfo("127.0.0.1", 80)))
        other.start()
        other.join()
        assert answers and answers[0][0][4][0] == "127.0.0.1"
    # AND after the block this thread resolves freely again
    assert socket.getaddrinfo("127.0.0.1", 80)


def test_guard_with_loopback_allowed_still_refuses_private():
    with guarded_connections(allow_loopback=True):
        assert socket.getaddrinfo("127.0.0.1", 80)
        with pytest.raises(BlockedUrlError):
            socket.getaddrinfo("10.0.0.1", 80)


@pytest.mark.parametrize(("stage", "allowed"), [("local", True), ("dev", False), ("prod", False)])
def test_loopback_is_allowed_by_default_only_on_the_local_stage(monkeypatch, stage, allowed):
    monkeypatch.delenv("PRSNL_ALLOW_LOOPBACK_URLS", raising=False)
    monkeypatch.setenv("PRSNL_STAGE", stage)
    assert load_settings().allow_loopback_urls is allowed
