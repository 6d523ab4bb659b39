"""The sample-media server stays quiet when a client hangs up early (make run's console is for people)."""

from __future__ import annotations

import socket
import struct
import time

from chalicelib.local.samples import MediaServer


def test_client_reset_prints_no_traceback(tmp_path, capfd):
    (tmp_path / "clip.mp4").write_bytes(b"\0" * 200_000)
    server = MediaServer(tmp_path).start()
    try:
        port = server.httpd.server_address[1]
        for _ in range(5):
            with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
                sock.sendall(b"GET /files/clip.mp4 HTTP/1.1\r\nHost: x\r\n\r\n")
                assert sock.recv(100).startswith(b"HTTP/1.1 200")
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))  # close = reset
        deadline = time.monotonic() + 10
        while server.hits("/files/") < 5 and time.monotonic() < deadline:
            time.sleep(0.05)
        with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:  # served after the resets
            sock.sendall(b"HEAD /files/clip.mp4 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            assert sock.recv(100).startswith(b"HTTP/1.1 200")
    finally:
        server.stop()
    assert "Traceback" not in capfd.readouterr().err
