"""One error shape for what no view answers: unknown paths (404), wrong methods (405), Chalice's own refusals.

Chalice (and API Gateway) answer an unknown path with 403 "Missing Authentication Token" before any of
our code runs, and a wrong method or content type with their own ``{"Code", "Message"}`` bodies. So:
catch-all routes ``/{p1}``…``/{p1}/…/{p8}`` answer 404 ``not_found`` (concrete routes win over them, in
chalice local and in API Gateway alike), every path answers its missing methods with 405 and an
``Allow`` header, and a middleware rewrites Chalice's own error bodies. In AWS, API Gateway's gateway
responses (infra/constructs/api.py) give what still never reaches the app (a path deeper than the
catch-all routes, a throttled call) the same shape; chalice local answers those deeper paths 403.
"""

from __future__ import annotations

import re

from chalice import Chalice, Response

from chalicelib.api.http import JSON, error_response
from chalicelib.errors import MethodNotAllowedError

METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE")
CATCH_ALL_DEPTH = 8
NOT_FOUND, METHOD_NOT_ALLOWED = "not_found", "method_not_allowed"
# Chalice's own error codes, in our words
CHALICE_ERRORS = {
    "UnsupportedMediaType": ("unsupported_media_type",
                             "send the body as JSON with the header Content-Type: application/json"),
    "BadRequest": ("bad_request", None),
    "InternalServerError": ("internal_error", "something went wrong on our side; try again later"),
}


def not_found_body(path: str) -> dict:
    """What an unknown path answers, here and in API Gateway's gateway response."""
    return {"error": {"code": NOT_FOUND, "message": f"there is nothing at {path}; the API is described at "
                                                    "/api/openapi.yaml"}}


def register(app: Chalice) -> None:
    """After every blueprint: 405 for the methods each path lacks, then the catch-all routes."""
    for path, entries in list(app.routes.items()):
        missing = [method for method in METHODS if method not in entries]
        if missing:
            app.route(path, methods=missing, name=METHOD_NOT_ALLOWED)(_method_not_allowed(sorted(entries)))
    for depth in range(1, CATCH_ALL_DEPTH + 1):
        path = "".join(f"/{{p{i}}}" for i in range(1, depth + 1))
        app.route(path, methods=list(METHODS), name=NOT_FOUND)(_not_found(app))
    app.register_middleware(chalice_errors, "http")


def is_fallback(view_name: str) -> bool:
    return view_name in (NOT_FOUND, METHOD_NOT_ALLOWED)


def _method_not_allowed(allowed: list[str]):
    def method_not_allowed(**_):
        response = error_response(MethodNotAllowedError(f"this path takes {', '.join(allowed)} only"))
        response.headers["Allow"] = ", ".join(allowed)
        return response

    return method_not_allowed


def _not_found(app: Chalice):
    def not_found(**_):
        return Response(status_code=404, body=not_found_body(app.current_request.context.get("path", "")),
                        headers=dict(JSON))

    return not_found


def chalice_errors(event, get_response):
    """Chalice's own ``{"Code", "Message"}`` error bodies (wrong content type...) in our ``{"error": ...}`` shape."""
    response = get_response(event)
    body = response.body
    if response.status_code >= 400 and isinstance(body, dict) and set(body) == {"Code", "Message"}:
        code, message = CHALICE_ERRORS.get(body["Code"], (_snake(body["Code"]), None))
        response.headers.update(JSON)
        response.body = {"error": {"code": code,
                                   "message": f"{message} ({body['Message']})" if message else body["Message"]}}
    return response


def _snake(name: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()
