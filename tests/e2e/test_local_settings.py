"""`make run` honours the settings it documents (the process environment wins over .chalice/config.json),
and its API takes a burst of simultaneous connections."""

from __future__ import annotations

import socket
import struct
import threading

import pytest
import requests

from tests.e2e.conftest import stack_env, start_stack, stop_stack
from tests.e2e.test_persistence import call, capture, finished

pytestmark = pytest.mark.e2e
BURST = 50


def test_dev_stage_runs_on_its_own_resources(tmp_path):
    stack = start_stack(stack_env(tmp_path, PRSNL_STAGE="dev", PRSNL_ALLOW_LOOPBACK_URLS="true"))
    try:
        assert requests.get(f"{stack['api_url']}/api/health", timeout=10).json()["stage"] == "dev"
        assert stack["bucket"] == "prsnl-dev-media"
        answer = capture(stack, stack["samples"][0])
        assert finished(stack, answer["job_id"])["status"] == "succeeded"
    finally:
        assert stop_stack(stack) == 0


def test_loopback_links_refused_when_the_setting_says_so(tmp_path):
    stack = start_stack(stack_env(tmp_path, PRSNL_ALLOW_LOOPBACK_URLS="false"))
    try:
        assert "PRSNL_ALLOW_LOOPBACK_URLS is off" in stack["log"].read_text()
        answer = call(stack, "POST", "/api/capture", json={"url": stack["samples"][0]})
        if answer.status_code == 202:  # the API takes the link; the worker's address guard refuses it
            job = finished(stack, answer.json()["job_id"])
            assert (job["status"], job["error_code"]) == ("failed", "blocked_url"), job
        else:
            assert answer.json()["error"]["code"] == "blocked_url"
    finally:
        stop_stack(stack)


TCP_INFO_SIZE, TOTAL_RETRANS = 104, 100  # struct tcp_info (linux/tcp.h): tcpi_total_retrans is at byte 100


def one_request(port: int, start: threading.Barrier, answers: list) -> None:
    """One connection opened with all the others at once: its status line and how many segments (its SYN
    included) the kernel had to send again: a connection the listen backlog could not take is dropped and
    retried after a second, or reset."""
    start.wait()
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=60) as sock:
            info = sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_INFO, TCP_INFO_SIZE)
            sock.sendall(b"GET /api/health HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
            answers.append((sock.makefile("rb").readline().decode().strip(),
                            struct.unpack_from("I", info, TOTAL_RETRANS)[0]))
    except OSError as error:
        answers.append((repr(error), None))


def test_burst_of_simultaneous_connections_gets_no_reset(local_stack):
    """`chalice local` (backlog 5): about 40 of 50 connections lost their SYN and were retried or reset."""
    port = int(local_stack["api_url"].rsplit(":", 1)[1])
    start, answers = threading.Barrier(BURST), []
    threads = [threading.Thread(target=one_request, args=(port, start, answers)) for _ in range(BURST)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert answers == [("HTTP/1.1 200 OK", 0)] * BURST
