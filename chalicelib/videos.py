"""Video records: creation, owner-checked reads, listing, de-duplication lookups, final states."""

from __future__ import annotations

from datetime import datetime

from chalicelib.errors import NotFoundError
from chalicelib.models import Video, to_json_dict

QUEUED, PROCESSING, READY, FAILED, BROKEN = "queued", "processing", "ready", "failed", "broken"


def owner_source(owner_id: str, dedupe_key: str) -> str:
    return f"{owner_id}#{dedupe_key}"


def get(video_id: str) -> Video:
    try:
        return Video.get(video_id)
    except Video.DoesNotExist:
        raise NotFoundError(f"video {video_id} not found") from None


def get_for_owner(video_id: str, owner_id: str) -> Video:
    """Another owner's video answers exactly like a missing one (no id probing)."""
    video = get(video_id)
    if video.owner_id != owner_id:
        raise NotFoundError(f"video {video_id} not found")
    return video


def find_by_source(owner_id: str, dedupe_key: str) -> Video | None:
    for hit in Video.by_source.query(owner_source(owner_id, dedupe_key), limit=1):
        try:
            return Video.get(hit.video_id)
        except Video.DoesNotExist:
            return None
    return None


def list_for_owner(owner_id: str, *, limit: int = 20, cursor: dict | None = None, status: str | None = None,
                   platform: str | None = None) -> tuple[list[Video], dict | None]:
    """Newest first, one page; the cursor is DynamoDB's last evaluated key."""
    condition = None
    if status:
        condition = Video.status == status
    if platform:
        condition = (Video.platform == platform) if condition is None else condition & (Video.platform == platform)
    results = Video.by_owner.query(owner_id, scan_index_forward=False, limit=limit, filter_condition=condition,
                                   last_evaluated_key=cursor)
    page = list(results)
    return page, results.last_evaluated_key


def mark_failed(video: Video, *, now: datetime, code: str, message: str) -> None:
    video.update(actions=[Video.status.set(FAILED), Video.error_code.set(code), Video.error_message.set(message),
                          Video.bytes_reserved.set(0), Video.updated_at.set(now)],
                 condition=Video.video_id.exists())


def to_dict(video: Video) -> dict:
    """The JSON shape of a video in API answers (field names as yt-dlp names them)."""
    data = to_json_dict(video, hide=("owner_source", "bytes_reserved"))
    data.setdefault("renditions", {})
    data.setdefault("thumbnails", {})
    return data
