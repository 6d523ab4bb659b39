"""A media server on loopback: the sample videos of ``make run`` and the misbehaving servers of the tests.

Routes (``name`` is a file under the served directory):
  /files/NAME             the file, with HEAD and Range, like a CDN
  /page/NAME              an HTML page whose og:video is /files/NAME
  /slow/NAME?bps=N        the file at N bytes a second
  /flaky/KEY/N/NAME       503 for the first N requests of KEY, then the file
  /fail/NAME              always 503
  /nolength/NAME          the file without Content-Length (HEAD claims 1 kB): a server that lies
  /cut/NAME               a GET without Range gets half the body, then the connection drops (resuming works)
  /fragfail/KEY/NAME      the file, except that each HLS fragment (.ts, .m4s) of KEY answers 503 once
  /redirect?to=URL        302 to URL
  /stats                  JSON request counts per path (tests check that nothing was fetched)
Every request's headers are kept per path (``headers_of``), and every accepted connection is counted.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import threading
import time
from collections import Counter
from functools import partial
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

CHUNK = 64 * 1024
TYPES = {".mp4": "video/mp4", ".webm": "video/webm", ".mkv": "video/x-matroska", ".mov": "video/quicktime",
         ".m3u8": "application/vnd.apple.mpegurl", ".ts": "video/mp2t", ".m4s": "video/iso.segment",
         ".jpg": "image/jpeg", ".png": "image/png", ".mp3": "audio/mpeg", ".m4a": "audio/mp4"}


class MediaHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "prsnl-samples"

    def __init__(self, *args, root: Path, state: dict, **kwargs):
        self.root = root
        self.state = state
        super().__init__(*args, **kwargs)

    def log_message(self, format, *args):  # quiet: tests and `make run` print their own summaries
        pass

    def do_HEAD(self):
        self._route(head=True)

    def do_GET(self):
        self._route(head=False)

    def _route(self, *, head: bool) -> None:
        parts = urlsplit(self.path)
        query = parse_qs(parts.query)
        with self.state["lock"]:
            self.state["hits"][parts.path] += 1
            self.state["headers"][parts.path] = {name.lower(): value for name, value in self.headers.items()}
        routes = [
            (r"/files/(?P<name>.+)", lambda m: self._file(m["name"], head=head)),
            (r"/page/(?P<name>.+)", lambda m: self._page(m["name"])),
            (r"/slow/(?P<name>.+)", lambda m: self._file(m["name"], head=head,
                                                          bps=int(query.get("bps", ["262144"])[0]))),
            (r"/flaky/(?P<key>[^/]+)/(?P<n>\d+)/(?P<name>.+)", lambda m: self._flaky(m, head=head)),
            (r"/fail/(?P<name>.+)", lambda m: self._status(503)),
            (r"/nolength/(?P<name>.+)", lambda m: self._nolength(m["name"], head=head)),
            (r"/cut/(?P<name>.+)", lambda m: self._cut(m["name"], head=head)),
            (r"/fragfail/(?P<key>[^/]+)/(?P<name>.+)", lambda m: self._fragment_fails_once(m, head=head)),
            (r"/redirect", lambda m: self._redirect(query.get("to", [""])[0])),
            (r"/stats", lambda m: self._json(dict(self.state["hits"]))),
        ]
        for pattern, action in routes:
            match = re.fullmatch(pattern, parts.path)
            if match:
                return action(match)
        return self._status(404)

    def _path(self, name: str) -> Path | None:
        path = (self.root / name).resolve()
        return path if path.is_file() and self.root in path.parents else None

    def _file(self, name: str, *, head: bool, bps: int | None = None) -> None:
        path = self._path(name)
        if path is None:
            return self._status(404)
        size = path.stat().st_size
        start, end = 0, size - 1
        match = re.fullmatch(r"bytes=(\d*)-(\d*)", self.headers.get("Range", ""))
        if match and (match[1] or match[2]):
            start = int(match[1]) if match[1] else size - int(match[2])
            end = min(int(match[2]), size - 1) if match[1] and match[2] else size - 1
        self.send_response(206 if match and (match[1] or match[2]) else 200)
        self.send_header("Content-Type", TYPES.get(path.suffix, "application/octet-stream"))
        self.send_header("Content-Length", str(end - start + 1))
        self.send_header("Accept-Ranges", "bytes")
        if start or end != size - 1:
            self.send_header("Content-Range", f"bytes {start}-{end}/{size}")
        self.end_headers()
        if not head:
            self._copy(path, start, end - start + 1, bps)

    def _copy(self, path: Path, start: int, length: int, bps: int | None) -> None:
        with path.open("rb") as file:
            file.seek(start)
            while length > 0:
                chunk = file.read(min(CHUNK, length))
                if not chunk:
                    break
                try:
                    self.wfile.write(chunk)
                except (BrokenPipeError, ConnectionResetError):
                    return
                length -= len(chunk)
                if bps:
                    time.sleep(len(chunk) / bps)

    def _page(self, name: str) -> None:
        host = self.headers.get("Host", "127.0.0.1")
        video = f"http://{host}/files/{name}"
        html = (f'<!doctype html><html><head><meta charset="utf-8"><title>Sample page: {name}</title>'
                f'<meta property="og:title" content="Sample page: {name}">'
                f'<meta property="og:video" content="{video}">'
                f'<meta property="og:video:type" content="video/mp4"></head>'
                f'<body><video src="{video}" controls></video></body></html>').encode()
        self._body(200, html, "text/html; charset=utf-8")

    def _flaky(self, match, *, head: bool) -> None:
        with self.state["lock"]:
            self.state["flaky"][match["key"]] += 1
            count = self.state["flaky"][match["key"]]
        if count <= int(match["n"]):
            return self._status(503)
        return self._file(match["name"], head=head)

    def _first_time(self, key: str) -> bool:
        with self.state["lock"]:
            self.state["flaky"][key] += 1
            return self.state["flaky"][key] == 1

    def _cut(self, name: str, *, head: bool) -> None:
        """A connection that drops mid-body: only a client that resumes with a Range request gets the rest."""
        path = self._path(name)
        if head or path is None or self.headers.get("Range"):
            return self._file(name, head=head)
        size = path.stat().st_size
        self.send_response(200)
        self.send_header("Content-Type", TYPES.get(path.suffix, "application/octet-stream"))
        self.send_header("Content-Length", str(size))
        self.end_headers()
        self._copy(path, 0, size // 2, None)
        self.close_connection = True

    def _fragment_fails_once(self, match, *, head: bool) -> None:
        name = match["name"]
        if name.endswith((".ts", ".m4s")) and self._first_time(f"frag:{match['key']}:{name}"):
            return self._status(503)
        return self._file(name, head=head)

    def _nolength(self, name: str, *, head: bool) -> None:
        path = self._path(name)
        if path is None:
            return self._status(404)
        self.send_response(200)
        self.send_header("Content-Type", TYPES.get(path.suffix, "application/octet-stream"))
        if head:
            self.send_header("Content-Length", "1024")
            self.end_headers()
            return
        self.send_header("Connection", "close")
        self.end_headers()
        self.close_connection = True
        self._copy(path, 0, path.stat().st_size, None)

    def _redirect(self, target: str) -> None:
        self.send_response(302)
        self.send_header("Location", target)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def _json(self, data: dict) -> None:
        self._body(200, json.dumps(data).encode(), "application/json")

    def _status(self, code: int) -> None:
        self._body(code, f"status {code}\n".encode(), "text/plain")

    def _body(self, code: int, body: bytes, content_type: str) -> None:
        self.send_response(code)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)


class QuietServer(ThreadingHTTPServer):
    """A client that hangs up early (a probe, a cancelled download) is no error worth a traceback on the console;
    ``connections`` counts what it accepted (tests check that nothing connected)."""

    daemon_threads = True
    request_queue_size = 128
    connections = 0

    def verify_request(self, request, client_address) -> bool:
        self.connections += 1  # in the accepting thread only
        return True

    def handle_error(self, request, client_address):
        if not isinstance(sys.exc_info()[1], (ConnectionError, TimeoutError)):
            super().handle_error(request, client_address)


class MediaServer:
    """The server in a daemon thread; ``url(route, name)`` builds links to it."""

    def __init__(self, root: Path, host: str = "127.0.0.1", port: int = 0):
        self.root = Path(root).resolve()
        self.state = {"lock": threading.Lock(), "hits": Counter(), "flaky": Counter(), "headers": {}}
        handler = partial(MediaHandler, root=self.root, state=self.state)
        self.httpd = QuietServer((host, port), handler)
        self.base_url = f"http://{host}:{self.httpd.server_address[1]}"
        self._thread = threading.Thread(target=self.httpd.serve_forever, name="media-server", daemon=True)

    def start(self) -> MediaServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()

    def url(self, route: str, name: str = "") -> str:
        return f"{self.base_url}/{route.strip('/')}/{name}".rstrip("/")

    @property
    def connections(self) -> int:
        """Connections accepted so far, whether or not a request came on them."""
        return self.httpd.connections

    def headers_of(self, path: str) -> dict:
        """The headers of the last request for ``path``, names in lower case."""
        with self.state["lock"]:
            return dict(self.state["headers"].get(path, {}))

    def hits(self, prefix: str = "/") -> int:
        with self.state["lock"]:
            return sum(n for path, n in self.state["hits"].items() if path.startswith(prefix))


SAMPLES = {
    "sample-h264.mp4": ["-c:v", "libx264", "-preset", "veryfast", "-pix_fmt", "yuv420p", "-c:a", "aac"],
    "sample-vp9.webm": ["-c:v", "libvpx-vp9", "-deadline", "realtime", "-cpu-used", "8", "-c:a", "libopus"],
}


def make_samples(directory: Path, *, seconds: int = 6) -> list[Path]:
    """Generate the sample videos of ``make run`` once (a test pattern with a tone)."""
    from chalicelib.media.tools import ffmpeg_exe

    directory.mkdir(parents=True, exist_ok=True)
    made = []
    for name, codec_args in SAMPLES.items():
        path = directory / name
        if not path.exists():
            tmp = path.with_suffix(".tmp" + path.suffix)
            subprocess.run([ffmpeg_exe(), "-hide_banner", "-loglevel", "error", "-nostdin", "-y",
                            "-f", "lavfi", "-i", f"testsrc2=size=640x360:rate=25:duration={seconds}",
                            "-f", "lavfi", "-i", f"sine=frequency=440:duration={seconds}",
                            *codec_args, "-shortest", os.fspath(tmp)], check=True)
            tmp.rename(path)
        made.append(path)
    return made
