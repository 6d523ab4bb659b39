"""The web library at ``/``: static HTML, CSS and plain JavaScript from the package, over the JSON API.

No build step and nothing from a CDN: every file is in ``static/`` and served as it is (with the API
Reference's vendored Redoc under ``static/vendor/``). Only the files there are served; a name is one
path segment, so nothing outside can be reached.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path

from chalice import Blueprint, Response

from chalicelib.api.http import json_errors
from chalicelib.errors import NotFoundError

bp = Blueprint(__name__)
STATIC = Path(__file__).parent / "static"
PACKAGE = Path(__file__).parents[1].resolve()  # chalicelib: the static files and the OpenAPI document
TYPES = {".html": "text/html; charset=utf-8", ".css": "text/css; charset=utf-8",
         ".js": "text/javascript; charset=utf-8", ".yaml": "application/yaml; charset=utf-8"}


@bp.route("/", methods=["GET"])
@json_errors
def library_page():
    return static_file(STATIC / "index.html", cache_seconds=0)


@bp.route("/static/{name}", methods=["GET"])
@json_errors
def library_file(name):
    return static_file(STATIC / name)


@bp.route("/static/vendor/{package}/{name}", methods=["GET"])
@json_errors
def vendored_file(package, name):
    return static_file(STATIC / "vendor" / package / name, cache_seconds=86400)


def static_file(path: Path, *, cache_seconds: int = 300) -> Response:
    """A text file of the package with its type; 404 for anything that is not one of them."""
    body = _read(path.resolve())
    return Response(status_code=200, body=body, headers={
        "Content-Type": TYPES[path.suffix], "Cache-Control": f"public, max-age={cache_seconds}" if cache_seconds
        else "no-cache", "X-Content-Type-Options": "nosniff"})


@cache
def _read(path: Path) -> str:
    if PACKAGE not in path.parents or path.suffix not in TYPES or not path.is_file():
        raise NotFoundError(f"there is no file {path.name}", code="not_found")
    return path.read_text()
