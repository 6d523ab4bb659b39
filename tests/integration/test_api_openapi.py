"""chalicelib/api/openapi.yaml describes the whole API: every route of the app is documented and nothing else is
(the catch-all 404 and the 405 answers are described once, in the document's description and its Error shape)."""

from __future__ import annotations

from pathlib import Path

import yaml

from chalicelib.api import fallback

DOC = Path(__file__).resolve().parents[2] / "chalicelib" / "api" / "openapi.yaml"
METHODS = {"get", "put", "post", "delete", "patch"}


def documented() -> dict:
    return yaml.safe_load(DOC.read_text())


def test_every_route_is_documented_and_nothing_more():
    from app import app

    routes = {(path, method.lower()) for path, entries in app.routes.items() for method, entry in entries.items()
              if not fallback.is_fallback(entry.view_name)}
    paths = documented()["paths"]
    operations = {(path, method) for path, item in paths.items() for method in item if method in METHODS}
    assert operations == routes


def test_operations_are_named_after_their_views():
    from app import app

    views = {(path, method.lower()): entry.view_name for path, entries in app.routes.items()
             for method, entry in entries.items()}
    for path, item in documented()["paths"].items():
        for method in METHODS & set(item):
            assert item[method]["operationId"] == views[(path, method)]


def test_the_document_is_valid_openapi():
    import schemathesis

    schema = schemathesis.openapi.from_dict(documented())
    assert len(list(schema.get_all_operations())) == len(
        [m for item in documented()["paths"].values() for m in item if m in METHODS])
