"""The capture use case, shared by the API and the Telegram bot: check a link, record it, queue the job."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from chalicelib import netguard, observability, platforms
from chalicelib.errors import BadRequestError, ConflictError, QuotaExceededError
from chalicelib.ops import metrics
from chalicelib.records import jobs, users, videos
from chalicelib.records.models import Job, Video

if TYPE_CHECKING:
    from chalicelib.wiring import Services

MAX_URL_LENGTH = 2048
# what a person may attach to a capture (README "Limits", api/openapi.yaml); a record stays far below
# DynamoDB's 400 KB item limit whatever is sent
MAX_TITLE_LENGTH = 1024  # a Telegram caption is at most 1,024 characters
MAX_NOTE_LENGTH = 10_000
MAX_TAGS = 50
MAX_TAG_LENGTH = 64


@dataclass(frozen=True)
class CaptureResult:
    video: Video
    job: Job | None
    created: bool


def capture(url: str, *, owner_id: str, services: Services, source: str = "api", title: str | None = None,
            tags: list[str] | None = None, note: str | None = None, correlation_id: str | None = None,
            job_params: dict | None = None, audio_only: bool = False) -> CaptureResult:
    """Queue a link for download, or return the owner's existing video of the same thing. ``audio_only`` keeps
    its sound alone (an audio record, de-duplicated apart from a capture of the video)."""
    title, note, tags = _text(title, "title", MAX_TITLE_LENGTH), _text(note, "note", MAX_NOTE_LENGTH), _tags(tags)
    url = _text((url or "").strip(), "url", MAX_URL_LENGTH)
    if not url:
        raise BadRequestError(f"url must be a link of at most {MAX_URL_LENGTH} characters", code="invalid_url")
    resolved = platforms.resolve(url)
    if not platforms.get_platform(resolved.platform).fixed_hosts:  # a host the user chose: refuse private ones now
        netguard.check_url(resolved.canonical_url, allow_loopback=services.settings.allow_loopback_urls)
    if audio_only:
        resolved = resolved.as_audio()
    return capture_resolved(resolved, url, owner_id=owner_id, services=services, source=source, title=title,
                            tags=tags, note=note, correlation_id=correlation_id, job_params=job_params,
                            kind=videos.AUDIO if audio_only else videos.VIDEO)


def capture_resolved(resolved: platforms.Resolved, url: str, *, owner_id: str, services: Services, source: str,
                     title: str | None = None, tags: list[str] | None = None, note: str | None = None,
                     correlation_id: str | None = None, job_params: dict | None = None,
                     kind: str = videos.VIDEO) -> CaptureResult:
    """Record and queue what is already resolved: a checked link, or a file the bot received (no link)."""
    claimed = videos.claimed_video_id(owner_id, resolved.dedupe_key)
    existing = videos.find(claimed) if claimed else None
    if existing is not None and existing.status != videos.FAILED:
        return _existing(existing, resolved, source)
    if users.get_user(owner_id).bytes_available <= 0:  # the worker's reservation is the real check
        raise QuotaExceededError("the storage quota is used up: delete a video first")

    now = services.clock.now()
    video_id, job_id = services.clock.new_id(), services.clock.new_id()
    video = videos.new_capture(video_id, owner_id=owner_id, job_id=job_id, now=now, source=source, url=url,
                               resolved=resolved, title=title, tags=list(tags or []), note=note, kind=kind)
    job = jobs.new_job(job_id, video_id=video_id, owner_id=owner_id, kind=jobs.CAPTURE, now=now, params=job_params)
    # a failed earlier try is replaced in the same write, so the owner keeps one record of the link
    if not videos.create_with_job(video, job, claimed=claimed, replacing=existing):
        return _lost_race(owner_id, resolved, source)
    message = jobs.JobMessage(job.job_id, video.video_id, owner_id, kind=jobs.CAPTURE,
                              correlation_id=correlation_id or observability.logger.get_correlation_id())
    try:
        services.queue.send(message)
    except Exception:
        videos.undo_create(video, job)
        raise
    metrics.capture_requested(resolved.platform, source=source, created=True)
    return CaptureResult(video, job, created=True)


def _text(value: str | None, name: str, limit: int) -> str | None:
    """A text field as it will be stored: at most ``limit`` characters of valid Unicode (no lone surrogate)."""
    if value is None:
        return None
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise BadRequestError(f"{name} is not valid text", code=f"invalid_{name}") from None
    if len(value) > limit:
        raise BadRequestError(f"{name} must be at most {limit} characters", code=f"invalid_{name}")
    return value


def _tags(tags: list[str] | None) -> list[str]:
    tags = tags or []
    if len(tags) > MAX_TAGS:
        raise BadRequestError(f"a capture takes at most {MAX_TAGS} tags", code="invalid_tags")
    for tag in tags:
        _text(tag, "tags", MAX_TAG_LENGTH)
        if not tag.strip():
            raise BadRequestError("a tag cannot be empty", code="invalid_tags")
    return list(tags)


def _existing(video: Video, resolved: platforms.Resolved, source: str) -> CaptureResult:
    metrics.capture_requested(resolved.platform, source=source, created=False)
    return CaptureResult(video, None, created=False)


def _lost_race(owner_id: str, resolved: platforms.Resolved, source: str) -> CaptureResult:
    """Another capture of the same link was created between our read and our write: it is the owner's video."""
    winner = videos.find_by_source(owner_id, resolved.dedupe_key)
    if winner is None:  # created and already deleted, or replaced again: asking once more settles it
        raise ConflictError("this link is being saved and changed right now; try again", code="capture_conflict")
    return _existing(winner, resolved, source)
