"""Video records: creation, owner-checked reads, listing, de-duplication lookups, final states, deletion."""

from __future__ import annotations

import base64
import binascii
import json
from datetime import datetime

from pynamodb.exceptions import DeleteError

from chalicelib.errors import BadRequestError, NotFoundError
from chalicelib.records import jobs, quotas
from chalicelib.records.models import Video, condition_failed, fetch, to_json_dict
from chalicelib.storage import layout

QUEUED, PROCESSING, READY, FAILED, BROKEN = "queued", "processing", "ready", "failed", "broken"
STATUSES = (QUEUED, PROCESSING, READY, FAILED, BROKEN)
MAX_PAGE = 100
# Platform metadata fields the original PRSNL backend answered at the top level (yt-dlp names).
PLATFORM_FIELDS = ("uploader", "upload_date", "view_count", "like_count", "comment_count", "description")


def owner_source(owner_id: str, dedupe_key: str) -> str:
    return f"{owner_id}#{dedupe_key}"


def get(video_id: str) -> Video:
    return fetch(Video, video_id)


def get_for_owner(video_id: str, owner_id: str) -> Video:
    return fetch(Video, video_id, owner_id=owner_id)


def find_by_source(owner_id: str, dedupe_key: str) -> Video | None:
    for hit in Video.by_source.query(owner_source(owner_id, dedupe_key), limit=1):
        try:
            return Video.get(hit.video_id)
        except Video.DoesNotExist:
            return None
    return None


def list_for_owner(owner_id: str, *, limit: int = 20, cursor: str | None = None, status: str | None = None,
                   platform: str | None = None) -> tuple[list[Video], str | None]:
    """Newest first, one page; the cursor is opaque to callers and only ever resumes the caller's own list."""
    if not 1 <= limit <= MAX_PAGE:
        raise BadRequestError(f"limit must be between 1 and {MAX_PAGE}", code="invalid_limit")
    if status and status not in STATUSES:
        raise BadRequestError(f"status must be one of {', '.join(STATUSES)}", code="invalid_status")
    condition = None
    if status:
        condition = Video.status == status
    if platform:
        condition = (Video.platform == platform) if condition is None else condition & (Video.platform == platform)
    results = Video.by_owner.query(owner_id, scan_index_forward=False, limit=limit, filter_condition=condition,
                                   last_evaluated_key=decode_cursor(cursor, owner_id),
                                   page_size=limit if condition is None else MAX_PAGE)
    page = list(results)
    last = results.last_evaluated_key
    return page, encode_cursor(last) if last and len(page) == limit else None


def encode_cursor(key: dict) -> str:
    return base64.urlsafe_b64encode(json.dumps(key, separators=(",", ":")).encode()).decode().rstrip("=")


def decode_cursor(cursor: str | None, owner_id: str) -> dict | None:
    """The index position a cursor stands for; refused unless it is a position in this owner's list."""
    if not cursor:
        return None
    try:
        key = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
        values = {name: key[name]["S"] for name in ("video_id", "owner_id", "created_at")}
        valid = len(key) == 3 and all(isinstance(v, str) for v in values.values())
    except (ValueError, TypeError, KeyError, binascii.Error):
        valid = False
    if not valid or values["owner_id"] != owner_id:
        raise BadRequestError("the cursor is not one this list gave", code="invalid_cursor")
    return key


def mark_failed(video: Video, *, now: datetime, code: str, message: str) -> None:
    video.update(actions=[Video.status.set(FAILED), Video.error_code.set(code), Video.error_message.set(message),
                          Video.bytes_reserved.set(0), Video.updated_at.set(now)],
                 condition=Video.video_id.exists())


def to_dict(video: Video) -> dict:
    """The JSON shape of a video in API answers (field names as yt-dlp names them)."""
    data = to_json_dict(video, hide=("owner_source", "bytes_reserved", "object_sizes"))
    data.setdefault("renditions", {})
    data.setdefault("thumbnails", {})
    return data


def metadata(video: Video) -> dict:
    """What the file is (probe), what the platform said, and which renditions and thumbnails exist."""
    platform_meta = video.platform_meta or {}
    fields = ("video_id", "status", "title", "platform", "source_url", "duration", "width", "height", "fps",
              "codec", "audio_codec", "average_bitrate", "video_bitrate", "audio_bitrate", "filesize",
              "bytes_stored", "created_at")
    data = {name: value for name, value in to_dict(video).items() if name in fields}
    data.update({name: platform_meta.get(name) for name in PLATFORM_FIELDS})
    data.update(renditions=video.renditions.as_dict(), thumbnails=video.thumbnails.as_dict(),
                platform_metadata=platform_meta)
    return data


def job_ids(video: Video) -> list[str]:
    """Every job that works on the video: its capture and each rendition."""
    ids = [video.job_id] + [entry.get("job_id") for entry in video.renditions.as_dict().values()]
    return [job_id for job_id in ids if job_id]


def delete(video_id: str, *, owner_id: str, services) -> None:
    """Remove the record first (a running job then fails its own final write and cleans up after itself),
    then stop its jobs, remove its objects and give its stored bytes back to the quota."""
    video = _delete_record(video_id, owner_id)
    now = services.clock.now()
    for job_id in job_ids(video):
        _cancel_job(job_id, now)
    services.storage.delete(_object_keys(video))  # work files stay in /tmp and temp/ (expired by lifecycle)
    sizes = video.object_sizes.as_dict()
    quotas.release(owner_id, reserved=video.bytes_reserved or 0, used=sum(sizes.values()),
                   videos=1 if video.status in (READY, BROKEN) else 0, usage=quotas.Usage.of(video, sizes))


def _delete_record(video_id: str, owner_id: str) -> Video:
    """Delete exactly the version read, so the bytes given back are the bytes that record held (stored, and
    reserved by a capture in flight: its worker then finds the reservation gone and gives nothing back)."""
    while True:
        video = get_for_owner(video_id, owner_id)
        try:
            video.delete(condition=(Video.status == video.status) & (Video.bytes_stored == video.bytes_stored)
                         & (Video.bytes_reserved == (video.bytes_reserved or 0)))
            return video
        except DeleteError as exc:
            if not condition_failed(exc):
                raise


def _cancel_job(job_id: str, now: datetime) -> None:
    try:
        job = jobs.get(job_id)
    except NotFoundError:
        return
    jobs.cancel(job, now=now)
    job.delete()


def _object_keys(video: Video) -> list[str]:
    """Every key the video has or may be writing right now (keys are deterministic)."""
    keys = {layout.video_key(video.video_id, video.created_at)}
    keys.update(layout.video_key(video.video_id, video.created_at, quality) for quality in layout.RENDITION_QUALITIES)
    keys.update(layout.thumbnail_key(video.video_id, video.created_at, size) for size in layout.THUMBNAIL_SIZES)
    keys.update(video.object_sizes.as_dict())
    keys.update(video.thumbnails.as_dict().values())
    return sorted(keys)
