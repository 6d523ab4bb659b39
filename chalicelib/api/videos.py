"""Video routes (owner only): list and search, read, edit, share, metadata, stream and thumbnail redirects,
captions, renditions, retry, delete."""

from chalice import Blueprint, Response

from chalicelib import captions, capture, deletion, renditions, wiring
from chalicelib.api.http import (
    current_user,
    json_body,
    json_errors,
    json_response,
    known_params,
    signed_redirect,
    video_answer,
)
from chalicelib.errors import BadRequestError, ConflictError, NotFoundError
from chalicelib.records import videos
from chalicelib.storage import layout, signed_urls

bp = Blueprint(__name__)
EDITABLE = ("title", "tags", "note")
DELIVERY_PARAMS = ("redirect",)


@bp.route("/api/videos", methods=["GET"])
@json_errors
def list_videos():
    request = bp.current_request
    owner_id = current_user(request)
    params = known_params(request, "limit", "cursor", "status", "platform", "q", "tag")
    page, cursor = videos.list_for_owner(owner_id, limit=_int(params.get("limit"), 20), cursor=params.get("cursor"),
                                         status=params.get("status"), platform=params.get("platform"),
                                         query=params.get("q"), tag=params.get("tag"))
    return {"videos": [video_answer(video, request) for video in page], "next_cursor": cursor}


@bp.route("/api/videos/{video_id}", methods=["GET"])
@json_errors
def get_video(video_id):
    return video_answer(_video(video_id), bp.current_request)


@bp.route("/api/videos/{video_id}", methods=["PATCH"])
@json_errors
def edit_video(video_id):
    video, body = _video(video_id), json_body(bp.current_request)
    unknown = sorted(set(body) - set(EDITABLE))
    if unknown or not body:
        raise BadRequestError(f"send one or more of {', '.join(EDITABLE)}"
                              + (f"; not editable: {', '.join(unknown)}" if unknown else ""), code="invalid_edit")
    changes = {name: _edited(name, value) for name, value in body.items()}
    if not videos.edit(video, changes, now=wiring.services().clock.now()):
        raise NotFoundError(f"video {video_id} not found", code="not_found")
    return video_answer(video, bp.current_request)


@bp.route("/api/videos/{video_id}/share", methods=["POST"])
@json_errors
def share_video(video_id):
    """A new watch link; the earlier one answers 404 from now on."""
    video = _video(video_id)
    if video.status != videos.READY:
        raise ConflictError(f"video {video_id} is {video.status}: only a ready video has a watch link",
                            code="not_ready")
    if not videos.rotate_share(video, now=wiring.services().clock.now()):
        raise NotFoundError(f"video {video_id} not found", code="not_found")
    answer = video_answer(video, bp.current_request)
    return {"video_id": video_id, "watch_url": answer["watch_url"]}


@bp.route("/api/videos/{video_id}/retry", methods=["POST"])
@json_errors
def retry_video(video_id):
    """A failed capture queued again under the same id (409 unless it failed)."""
    request = bp.current_request
    result = capture.retry(video_id, owner_id=current_user(request), services=wiring.services(),
                           correlation_id=request.context.get("requestId"))
    return json_response({"video_id": video_id, "job_id": result.job.job_id, "status": result.video.status,
                          "video": video_answer(result.video, request)}, 202)


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
    video, params = _video(video_id), known_params(bp.current_request, "quality", *DELIVERY_PARAMS)
    return _deliver(renditions.stored_key(video, renditions.parse_quality(params.get("quality"))), params)


@bp.route("/api/videos/{video_id}/thumbnail", methods=["GET"])
@json_errors
def get_video_thumbnail(video_id):
    video, params = _video(video_id), known_params(bp.current_request, "size", *DELIVERY_PARAMS)
    size = params.get("size") or "medium"
    if size not in layout.THUMBNAIL_SIZES:
        raise BadRequestError(f"size must be one of {', '.join(layout.THUMBNAIL_SIZES)}", code="invalid_size")
    key = video.thumbnails.as_dict().get(size)
    if not key:
        raise NotFoundError(f"video {video_id} has no {size} thumbnail", code="thumbnail_not_found")
    return _deliver(key, params)


@bp.route("/api/videos/{video_id}/captions", methods=["GET"])
@json_errors
def get_video_captions(video_id):
    """The captions' languages with signed URLs of their WebVTT files (an empty list: the video has none)."""
    return captions.listing(_video(video_id), services=wiring.services())


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


def _edited(name: str, value):
    """An edited field checked as a capture's (``capture.checked_text``): tags a list of strings, title and note a
    string (or null to clear them)."""
    if name == "tags":
        if not isinstance(value, list) or not all(isinstance(tag, str) and tag.strip() for tag in value):
            raise BadRequestError("tags must be a list of non-empty strings", code="invalid_tags")
        return capture.checked_tags([tag.strip() for tag in value])
    if value is None:
        return None
    if not isinstance(value, str):
        raise BadRequestError(f"{name} must be a string or null", code=f"invalid_{name}")
    return capture.checked_text(value.strip(), name) or None


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
    if params.get("redirect", "true").lower() in ("false", "0", "no"):
        services = wiring.services()
        return json_response(signed_urls.signed_url(key, settings=services.settings, storage=services.storage,
                                                    now=services.clock.now()).to_dict())
    return signed_redirect(key)
