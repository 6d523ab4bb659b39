"""A media server that misbehaves at random, the same way for the same request: 5xx, a reset mid-body, a body
cut short of its length, a length that lies, HTML served as video, a stall, or the file as it should be.

``/chaos/N/NAME``: the behaviour of the k-th request of N is drawn from ``random.Random(f"{N}:{k}")``, so a
retried capture meets another behaviour, and a run can be repeated exactly.
"""

from __future__ import annotations

import contextlib
import random
import threading
import time
from collections import Counter
from functools import partial
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

BEHAVIOURS = ("ok", "ok", "ok", "status_503", "status_500", "reset_mid_body", "truncated", "lying_length",
              "html_as_video", "stall", "status_404")


class ChaosHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def __init__(self, *args, root: Path, counts: Counter, lock: threading.Lock, **kwargs):
        self.root, self.counts, self.lock = root, counts, lock
        super().__init__(*args, **kwargs)

    def log_message(self, *args) -> None:
        pass

    def do_HEAD(self) -> None:
        self.do_GET()

    def do_GET(self) -> None:
        parts = self.path.split("?")[0].strip("/").split("/")
        if len(parts) != 3 or parts[0] != "chaos":
            return self._send(404, b"no such route", "text/plain")
        with self.lock:
            self.counts[parts[1]] += 1
            hit = self.counts[parts[1]]
        behaviour = random.Random(f"{parts[1]}:{hit}").choice(BEHAVIOURS)
        getattr(self, f"_{behaviour}", self._ok)(self.root / parts[2], behaviour)

    def _ok(self, path: Path, _behaviour: str, *, stall: float = 0) -> None:
        data = self._announce(path)
        if self.command == "GET":
            time.sleep(stall)
            self._write(data)

    def _stall(self, path: Path, behaviour: str) -> None:
        self._ok(path, behaviour, stall=2)

    def _status_503(self, path: Path, behaviour: str) -> None:
        self._send(503, b"busy", "text/plain")

    _status_500 = _status_503

    def _status_404(self, path: Path, behaviour: str) -> None:
        self._send(404, b"gone", "text/plain")

    def _html_as_video(self, path: Path, behaviour: str) -> None:
        self._send(200, b"<!doctype html><html><body>not a video</body></html>", "video/mp4")

    def _lying_length(self, path: Path, behaviour: str) -> None:
        data = path.read_bytes()
        self._send(200, data[: len(data) // 3], "video/mp4")  # says (and is) a third of the file: corrupt media

    def _truncated(self, path: Path, behaviour: str) -> None:
        self._cut(path, keep=0.5)

    def _reset_mid_body(self, path: Path, behaviour: str) -> None:
        self._cut(path, keep=0.2)

    def _cut(self, path: Path, *, keep: float) -> None:
        """Announce the whole file, send part of it, close the connection."""
        data = self._announce(path)
        if self.command == "GET":
            self._write(data[: int(len(data) * keep)])
        self.close_connection = True

    def _announce(self, path: Path) -> bytes:
        """The headers of the whole file as a video; returns its bytes."""
        data = path.read_bytes()
        self.send_response(200)
        self.send_header("Content-Type", "video/mp4")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        return data

    def _send(self, status: int, body: bytes, content_type: str) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command == "GET":
            self._write(body)

    def _write(self, data: bytes) -> None:
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):
            self.wfile.write(data)


class ChaosServer:
    def __init__(self, root: Path):
        handler = partial(ChaosHandler, root=Path(root), counts=Counter(), lock=threading.Lock())
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self.httpd.daemon_threads = True
        threading.Thread(target=self.httpd.serve_forever, name="chaos", daemon=True).start()

    def url(self, n: int, name: str) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}/chaos/{n}/{name}"

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
