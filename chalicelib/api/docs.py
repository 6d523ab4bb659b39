"""The API's own description: the OpenAPI document at /api/openapi.yaml, browsable at /api/docs (vendored Redoc)."""

from pathlib import Path

from chalice import Blueprint

from chalicelib.api.http import json_errors
from chalicelib.web.library import STATIC, static_file

bp = Blueprint(__name__)
DOCUMENT = Path(__file__).parent / "openapi.yaml"


@bp.route("/api/openapi.yaml", methods=["GET"])
@json_errors
def get_openapi():
    return static_file(DOCUMENT)


@bp.route("/api/docs", methods=["GET"])
@json_errors
def get_docs():
    return static_file(STATIC / "docs.html")
