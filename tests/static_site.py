"""A static site on loopback, for tests that need pages of their own (an HTML5 ``<video>`` with ``<track>``s):
the files of a directory, and a 500 for anything under /broken/ (a caption server that errs)."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path


class StaticSite(SimpleHTTPRequestHandler):
    def log_message(self, format, *args):  # quiet: the tests say what they check
        pass

    def do_GET(self):
        if self.path.startswith("/broken/"):
            self.send_error(500, "caption store down")
            return
        super().do_GET()


@contextmanager
def serve(root: Path) -> Iterator[str]:
    """Serve ``root`` on a free loopback port; yields the site's base URL."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), partial(StaticSite, directory=str(root)))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
