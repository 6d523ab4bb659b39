"""Video routes (owner only): list, read, metadata, stream and thumbnail redirects, renditions, delete."""

from chalice import Blueprint, Response

from chalicelib import deletion, renditions, wiring
from chalicelib.api.http import current_user, json_body, json_errors, json_response
from chalicelib.errors import BadRequestError, NotFoundError
from chalicelib.records import videos
from chalicelib.storage import layout, signed_urls

bp = Blueprint(__name__)


@bp.route("/api/videos", methods=["GET"])
@json_errors
def list_videos():
    owner_id, params = current_user(bp.current_request), _params()
    page, cursor = videos.list_for_owner(owner_id, limit=_int(params.get("limit"), 20), cursor=params.get("cursor"),
                                         status=params.get("status"), platform=params.get("platform"))
    return {"videos": [videos.to_dict(video) for video in page], "next_cursor": cursor}


@bp.route("/api/videos/{video_id}", methods=["GET"])
@json_errors
def get_video(video_id):
    return videos.to_dict(_video(video_id))


@bp.route("/api/videos/{video_id}", methods=["DELETE"])
@json_errors
def delete_video(video_id):
    deletion.delete(video_id, owner_id=current_user(bp.current_request), services=wiring.services())
    return Response(status_code=204, body="")


@bp.route("/api/videos/{video_id}/metadata", methods=["GET"])
@json_errors
def get_video_metadata(video_id):
    return videos.metadata(_video(video_id))


@bp.route("/api/videos/{video_id}/stream", methods=["GET"])
@json_errors
def get_video_stream(video_id):
    video, params = _video(video_id), _params()
    return _deliver(renditions.stored_key(video, renditions.parse_quality(params.get("quality"))), params)


@bp.route("/api/videos/{video_id}/thumbnail", methods=["GET"])
@json_errors
def get_video_thumbnail(video_id):
    video, params = _video(video_id), _params()
    size = params.get("size") or "medium"
    if size not in layout.THUMBNAIL_SIZES:
        raise BadRequestError(f"size must be one of {', '.join(layout.THUMBNAIL_SIZES)}", code="invalid_size")
    key = video.thumbnails.as_dict().get(size)
    if not key:
        raise NotFoundError(f"video {video_id} has no {size} thumbnail", code="thumbnail_not_found")
    return _deliver(key, params)


@bp.route("/api/videos/{video_id}/transcode", methods=["POST"])
@json_errors
def create_rendition(video_id):
    video, body = _video(video_id), json_body(bp.current_request)
    quality = body.get("quality")
    if not isinstance(quality, str) or not quality:
        raise BadRequestError("quality is required: 360p, 480p, 720p or 1080p", code="invalid_quality")
    answer = renditions.request(video, renditions.parse_quality(quality), services=wiring.services(),
                                correlation_id=bp.current_request.context.get("requestId"))
    return json_response(answer, 202 if answer["status"] == renditions.QUEUED else 200)


def _params() -> dict:
    return bp.current_request.query_params or {}


def _video(video_id: str):
    return videos.get_for_owner(video_id, current_user(bp.current_request))


def _int(value: str | None, default: int) -> int:
    if value is None:
        return default
    try:
        return int(value)
    except ValueError:
        raise BadRequestError(f"{value!r} is not a whole number", code="invalid_limit") from None


def _deliver(key: str, params: dict) -> Response:
    """302 to a short-lived signed URL, or the URL as JSON with ``?redirect=false``."""
    services = wiring.services()
    signed = signed_urls.signed_url(key, settings=services.settings, storage=services.storage, now=services.clock.now())
    if params.get("redirect", "true").lower() in ("false", "0", "no"):
        return json_response(signed.to_dict())
    return Response(status_code=302, body="", headers={"Location": signed.url, "Cache-Control": "no-store"})
