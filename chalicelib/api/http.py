"""HTTP edges shared by the blueprints: the error mapping, the caller, JSON bodies and responses."""

from __future__ import annotations

import functools
import json

from chalice import Response

from chalicelib import watch, wiring
from chalicelib.errors import BadRequestError, BodyTooLargeError, PrsnlError, ours
from chalicelib.observability import logger
from chalicelib.records import apikeys, videos
from chalicelib.records.models import Video
from chalicelib.storage import signed_urls

JSON = {"Content-Type": "application/json"}


def error_response(error: PrsnlError) -> Response:
    return Response(status_code=error.http_status, body={"error": {"code": error.code, "message": error.message}},
                    headers=dict(JSON))


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
            return error_response(PrsnlError(ours(logger.get_correlation_id())))

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


MAX_BODY_BYTES = 64 * 1024  # a capture's link, title, note and tags fit many times over


def json_body(request) -> dict:
    if len(request.raw_body or b"") > MAX_BODY_BYTES:
        raise BodyTooLargeError(f"the body must be at most {MAX_BODY_BYTES} bytes")
    try:
        body = json.loads(request.raw_body or b"{}")
    except (ValueError, UnicodeDecodeError):
        raise BadRequestError("the body must be JSON", code="invalid_json") from None
    if not isinstance(body, dict):
        raise BadRequestError("the body must be a JSON object", code="invalid_json")
    return body


def json_response(body: dict, status: int = 200, headers: dict | None = None) -> Response:
    return Response(status_code=status, body=body, headers=headers or {})


def known_params(request, *names: str) -> dict:
    """The query parameters, refused with a 400 naming any the route does not know (a typo is not silence)."""
    params = request.query_params or {}
    unknown = sorted(set(params) - set(names))
    if unknown:
        raise BadRequestError(f"unknown query parameter(s): {', '.join(unknown)}; this route takes "
                              f"{', '.join(names) or 'none'}", code="unknown_parameter")
    return params


def base_url(request) -> str:
    """Where people reach this app: PRSNL_PUBLIC_URL, else the request's own host (with API Gateway's stage)."""
    settings = wiring.services().settings
    if settings.public_url:
        return settings.public_url.rstrip("/")
    host = request.headers.get("host", "")
    stage = request.context.get("stage") if host.endswith(".amazonaws.com") else None
    return f"{request.headers.get('x-forwarded-proto', 'https')}://{host}" + (f"/{stage}" if stage else "")


def video_answer(video: Video, request) -> dict:
    """A video as the API answers it: its record and, once it is ready, the watch link that plays it anywhere."""
    services = wiring.services()
    return {**videos.to_dict(video),
            "watch_url": watch.link(video, settings=services.settings, base_url=base_url(request),
                                    now=services.clock.now())}


def signed_redirect(key: str, *, download_name: str | None = None) -> Response:
    """302 to a fresh short-lived signed URL of an object: the bytes come from the CDN (or S3), never from here."""
    services = wiring.services()
    signed = signed_urls.signed_url(key, settings=services.settings, storage=services.storage,
                                    now=services.clock.now(), download_name=download_name)
    return Response(status_code=302, body="", headers={"Location": signed.url, "Cache-Control": "no-store"})
