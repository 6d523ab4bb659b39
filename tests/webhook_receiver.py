"""A webhook receiver on loopback for the tests, and the Standard Webhooks check a receiver makes, written here
from the scheme (not with the code under test): v1 HMAC-SHA256 over ``id.timestamp.body`` under the key the
``whsec_`` secret encodes, and a timestamp within five minutes."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

SECRET_KEY = os.urandom(24)
SECRET = "whsec_" + base64.b64encode(SECRET_KEY).decode()
HOLD_SECONDS = 120


class Receiver(ThreadingHTTPServer):
    """A webhook receiver: records every request; answers 500 to the first ``failures`` requests of each id, or
    holds every request until ``release`` is set (``hang``)."""

    daemon_threads = True

    def __init__(self, *, failures: int = 0, hang: bool = False):
        super().__init__(("127.0.0.1", 0), _Handler)
        self.failures, self.hang = failures, hang
        self.release = threading.Event()
        self.requests: list[dict] = []
        self.lock = threading.Lock()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}/hooks/prsnl"

    def start(self) -> Receiver:
        threading.Thread(target=self.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        self.release.set()
        self.shutdown()
        self.server_close()

    def by_id(self) -> dict[str, list[dict]]:
        with self.lock:
            found: dict[str, list[dict]] = {}
            for request in self.requests:
                found.setdefault(request["headers"]["webhook-id"], []).append(request)
            return found


class _Handler(BaseHTTPRequestHandler):
    def do_POST(self):
        body = self.rfile.read(int(self.headers["Content-Length"]))
        server: Receiver = self.server
        with server.lock:
            server.requests.append({"headers": {k.lower(): v for k, v in self.headers.items()}, "body": body})
            seen = sum(r["headers"]["webhook-id"] == self.headers["webhook-id"] for r in server.requests)
        if server.hang:
            server.release.wait(HOLD_SECONDS)
        status = 500 if seen <= server.failures else 204
        self.send_response(status)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args):
        pass


def verified(request: dict) -> dict:
    """The Standard Webhooks check a receiver makes: v1 HMAC-SHA256 of id.timestamp.body, a fresh timestamp."""
    headers, body = request["headers"], request["body"]
    signed = f"{headers['webhook-id']}.{headers['webhook-timestamp']}.".encode() + body
    expected = base64.b64encode(hmac.new(SECRET_KEY, signed, hashlib.sha256).digest()).decode()
    versions = dict(part.split(",", 1) for part in headers["webhook-signature"].split(" "))
    assert hmac.compare_digest(versions["v1"], expected)
    assert abs(time.time() - int(headers["webhook-timestamp"])) < 300
    assert headers["content-type"] == "application/json"
    payload = json.loads(body)
    assert payload["id"] == headers["webhook-id"]
    return payload
