"""POST /api/capture: save a link."""

from chalice import Blueprint

from chalicelib import capture as capture_service
from chalicelib import wiring
from chalicelib.api.http import current_user, json_body, json_errors, json_response, video_answer
from chalicelib.errors import BadRequestError

bp = Blueprint(__name__)


@bp.route("/api/capture", methods=["POST"])
@json_errors
def create_capture():
    request = bp.current_request
    owner_id = current_user(request)
    body = json_body(request)
    tags = [] if body.get("tags") is None else body["tags"]  # {}, 0 or false are no list of tags
    if not isinstance(tags, list) or not all(isinstance(t, str) for t in tags):
        raise BadRequestError("tags must be a list of strings", code="invalid_tags")
    for name in ("title", "note"):
        if not isinstance(body.get(name), str | None):
            raise BadRequestError(f"{name} must be a string", code=f"invalid_{name}")
    if not isinstance(body.get("audio_only", False), bool):
        raise BadRequestError("audio_only must be true or false", code="invalid_audio_only")
    result = capture_service.capture(
        body.get("url") if isinstance(body.get("url"), str) else "", owner_id=owner_id,
        services=wiring.services(), title=body.get("title"), tags=tags, note=body.get("note"),
        correlation_id=request.context.get("requestId"), audio_only=body.get("audio_only", False))
    answer = {"video_id": result.video.video_id, "job_id": result.video.job_id, "status": result.video.status,
              "created": result.created, "video": video_answer(result.video, request)}
    return json_response(answer, 202 if result.created else 200)
