"""HTTP edges shared by the blueprints: the error mapping, the caller, JSON bodies and responses."""

from __future__ import annotations

import functools
import json

from chalice import Response

from chalicelib import wiring
from chalicelib.errors import BadRequestError, PrsnlError
from chalicelib.observability import logger
from chalicelib.records import apikeys


def error_response(error: PrsnlError) -> Response:
    return Response(status_code=error.http_status, body={"error": {"code": error.code, "message": error.message}})


def json_errors(view):
    """Map domain errors to ``{"error": {"code", "message"}}`` with their status; hide internals of the rest."""

    @functools.wraps(view)
    def wrapper(*args, **kwargs):
        try:
            return view(*args, **kwargs)
        except PrsnlError as error:
            return error_response(error)
        except Exception:
            logger.exception("unhandled error in view")
            return error_response(PrsnlError("something went wrong on our side; try again later"))

    return wrapper


def current_user(request) -> str:
    """The authenticated caller's user id (UnauthorizedError otherwise)."""
    wiring.services()
    return apikeys.user_for_key(bearer_token(request.headers.get("authorization")))


def bearer_token(header: str | None) -> str | None:
    if not header:
        return None
    scheme, _, token = header.partition(" ")
    return token.strip() if scheme.lower() == "bearer" and token.strip() else None


def json_body(request) -> dict:
    try:
        body = json.loads(request.raw_body or b"{}")
    except (ValueError, UnicodeDecodeError):
        raise BadRequestError("the body must be JSON", code="invalid_json") from None
    if not isinstance(body, dict):
        raise BadRequestError("the body must be a JSON object", code="invalid_json")
    return body


def json_response(body: dict, status: int = 200, headers: dict | None = None) -> Response:
    return Response(status_code=status, body=body, headers=headers or {})
