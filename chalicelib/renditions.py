"""Renditions: smaller copies of a stored video (``videos/YYYY/MM/{uuid}_{720p}.mp4``), made by a transcode job.

The API asks once per quality: the video record's ``renditions[quality]`` entry is claimed by a
conditional write, so asking twice (even at the same moment) queues one job. The worker makes it in
the pipeline (``pipeline.rendition_run``), through the same commit as a capture.
"""

from __future__ import annotations

from chalicelib.errors import BadRequestError, ConflictError, NotFoundError, QuotaExceededError
from chalicelib.records import jobs, users, videos
from chalicelib.records.models import Job, Video
from chalicelib.storage import layout

KIND = jobs.RENDITION
ORIGINAL = "original"
QUALITIES = {quality: int(quality.removesuffix("p")) for quality in layout.RENDITION_QUALITIES}
# The original PRSNL backend's names (DESIGN "Compatibility"): original is the stored file itself.
ALIASES = {"low": "360p", "medium": "480p", "high": "720p", ORIGINAL: ORIGINAL}
QUEUED, READY, FAILED = videos.QUEUED, videos.READY, videos.FAILED  # a rendition entry's states


def parse_quality(value: str | None, *, default: str = ORIGINAL) -> str:
    """A quality name (``720p``) or ``original``; old names are aliases."""
    if not value:
        return default
    quality = ALIASES.get(value.lower(), value.lower())
    if quality != ORIGINAL and quality not in QUALITIES:
        names = ", ".join([*QUALITIES, *ALIASES])
        raise BadRequestError(f"quality must be one of {names}", code="invalid_quality")
    return quality


def source_height(video: Video) -> int:
    """The short side of the picture: a portrait 1080x1920 video is 1080p."""
    return min(video.width or 0, video.height or 0)


def stored_key(video: Video, quality: str) -> str:
    """The S3 key to serve for a quality; NotFoundError when that rendition is not made (yet)."""
    _require_ready(video)
    if quality == ORIGINAL:
        return video.file_key
    entry = video.renditions.as_dict().get(quality) or {}
    if entry.get("status") != READY:
        raise NotFoundError(f"there is no {quality} rendition yet; POST /api/videos/{video.video_id}/transcode "
                            "makes one", code="rendition_not_found")
    return entry["key"]


def request(video: Video, quality: str, *, services, correlation_id: str | None = None) -> dict:
    """The rendition's state, queuing its job unless it exists or is on its way."""
    _require_ready(video)
    if quality == ORIGINAL:
        return {"quality": ORIGINAL, "status": READY, "key": video.file_key}
    if video.kind == videos.AUDIO:
        raise BadRequestError("an audio capture has no picture to make smaller copies of", code="audio_only")
    if QUALITIES[quality] > source_height(video):
        raise BadRequestError(f"{quality} is above the source ({source_height(video)}p): no upscaling",
                              code="upscale_refused")
    entry = video.renditions.as_dict().get(quality)
    if entry and entry.get("status") != FAILED:
        return _answer(quality, entry)
    if users.get_user(video.owner_id).bytes_available <= 0:
        raise QuotaExceededError("the storage quota is used up: delete something first")
    now = services.clock.now()
    job = jobs.new_job(services.clock.new_id(), video_id=video.video_id, owner_id=video.owner_id, kind=KIND,
                       now=now, params={"quality": quality})
    jobs.create(job)
    entry = {"status": QUEUED, "job_id": job.job_id}
    if not videos.claim_rendition(video, quality, entry, now=now):
        jobs.discard(job)
        return _answer(quality, videos.get(video.video_id).renditions.as_dict()[quality])
    try:
        services.queue.send(jobs.JobMessage(job.job_id, video.video_id, video.owner_id, kind=KIND,
                                            correlation_id=correlation_id))
    except Exception:  # no message would ever run it: the quality may be asked again
        videos.fail_for_job(video, job, now=now, code="not_queued", message="the job could not be queued")
        jobs.discard(job)
        raise
    return _answer(quality, entry)


def _answer(quality: str, entry: dict) -> dict:
    return {"quality": quality, **entry}


def _require_ready(video: Video) -> None:
    if video.status != videos.READY or not video.file_key:
        raise ConflictError(f"video {video.video_id} is {video.status}, not ready", code="not_ready")


def ready_entry(job: Job, key: str, size: int, record: dict) -> dict:
    """The ``renditions[quality]`` entry of a rendition made by ``job`` (the worker's pipeline makes it)."""
    return {"status": READY, "job_id": job.job_id, "key": key, "filesize": size,
            **{name: record[name] for name in ("width", "height", "codec", "audio_codec", "average_bitrate")}}
