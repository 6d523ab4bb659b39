"""Video routes: read one video (owner only)."""

from chalice import Blueprint

from chalicelib import videos
from chalicelib.api.http import current_user, json_errors

bp = Blueprint(__name__)


@bp.route("/api/videos/{video_id}", methods=["GET"])
@json_errors
def get_video(video_id):
    owner_id = current_user(bp.current_request)
    return videos.to_dict(videos.get_for_owner(video_id, owner_id))
