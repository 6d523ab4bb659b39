"""The capture use case, shared by the API and the Telegram bot: check a link, record it, queue the job."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from chalicelib import netguard, observability, platforms
from chalicelib.errors import BadRequestError, ConflictError, NotFoundError, QuotaExceededError, UnavailableError
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
TEXT_LIMITS = {"url": MAX_URL_LENGTH, "title": MAX_TITLE_LENGTH, "note": MAX_NOTE_LENGTH, "tags": MAX_TAG_LENGTH}
QUEUE_UNAVAILABLE = "queue_unavailable"  # error code of a retry whose job could not be queued


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
    title, note, tags = checked_text(title, "title"), checked_text(note, "note"), checked_tags(tags)
    url = checked_text((url or "").strip(), "url")
    if not url:
        raise BadRequestError(f"url must be a link of at most {MAX_URL_LENGTH} characters", code="invalid_url")
    resolved = platforms.resolve(url)
    _guard(resolved.canonical_url, resolved.platform, services)
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
    _check_quota(owner_id)
    if existing is not None:  # a failed earlier try is queued again under its id: the owner keeps one record
        given = {"title": title, "note": note, "tags": list(tags or []) or None}
        changes = {"source": source, "source_url": url, "canonical_url": resolved.canonical_url, "kind": kind,
                   **{name: value for name, value in given.items() if value is not None}}
        result = _requeue(existing, services=services, changes=changes, params=job_params,
                          correlation_id=correlation_id)
        if result is None:
            return _lost_race(owner_id, resolved, source)
        metrics.capture_requested(resolved.platform, source=source, created=True)
        return result

    now = services.clock.now()
    video_id, job_id = services.clock.new_id(), services.clock.new_id()
    video = videos.new_capture(video_id, owner_id=owner_id, job_id=job_id, now=now, source=source, url=url,
                               resolved=resolved, title=title, tags=list(tags or []), note=note, kind=kind)
    job = jobs.new_job(job_id, video_id=video_id, owner_id=owner_id, kind=jobs.CAPTURE, now=now, params=job_params)
    if not videos.create_with_job(video, job, claimed=claimed):
        return _lost_race(owner_id, resolved, source)
    _send(video, job, services, correlation_id, undo=lambda: videos.undo_create(video, job))
    metrics.capture_requested(resolved.platform, source=source, created=True)
    return CaptureResult(video, job, created=True)


def retry(video_id: str, *, owner_id: str, services: Services, correlation_id: str | None = None,
          job_params: dict | None = None) -> CaptureResult:
    """Queue a failed capture again under its id, checked as a new capture of its link would be (the address
    guard, the quota). Its earlier job's params go with it (the file the bot received), with ``job_params``' chat
    reply in place of the earlier one."""
    video = videos.get_for_owner(video_id, owner_id)
    if video.status != videos.FAILED:
        raise _not_failed(video)
    _guard(video.canonical_url, video.platform, services)
    _check_quota(owner_id)
    result = _requeue(video, services=services, changes={}, params=_retry_params(video, job_params),
                      correlation_id=correlation_id)
    if result is None:  # retried (or deleted) meanwhile
        raise _not_failed(videos.get_for_owner(video_id, owner_id))
    metrics.capture_requested(video.platform, source="retry", created=True)
    return result


def _requeue(video: Video, *, services: Services, changes: dict, params: dict | None,
             correlation_id: str | None) -> CaptureResult | None:
    """The failed video with a new job, queued; None when it was not failed any more by the time of the write."""
    job = jobs.new_job(services.clock.new_id(), video_id=video.video_id, owner_id=video.owner_id, kind=jobs.CAPTURE,
                       now=services.clock.now(), params=params)
    if not videos.requeue(video, job, changes=changes):
        return None
    _send(video, job, services, correlation_id, undo=lambda: videos.undo_requeue(
        video, job, code=QUEUE_UNAVAILABLE, message="the job could not be queued; try again"))
    return CaptureResult(video, job, created=True)


def _send(video: Video, job: Job, services: Services, correlation_id: str | None, *, undo) -> None:
    """Queue the job's message; when that fails, ``undo`` takes the write back (nothing would ever run the job)."""
    message = jobs.JobMessage(job.job_id, video.video_id, video.owner_id, kind=jobs.CAPTURE,
                              correlation_id=correlation_id or observability.logger.get_correlation_id())
    try:
        services.queue.send(message)
    except Exception as error:
        undo()
        raise UnavailableError("the job queue did not take the job: nothing was saved; send it again") from error


def _guard(url: str, platform: str, services: Services) -> None:
    if not platforms.get_platform(platform).fixed_hosts:  # a host the user chose: refuse private ones now
        netguard.check_url(url, allow_loopback=services.settings.allow_loopback_urls)


def _check_quota(owner_id: str) -> None:
    if users.get_user(owner_id).bytes_available <= 0:  # the worker's reservation is the real check
        raise QuotaExceededError("the storage quota is used up: delete a video first")


def _retry_params(video: Video, given: dict | None) -> dict | None:
    """The earlier job's params (the file the bot received, the chat to tell), with the chat's reply ``given`` in
    place of the earlier one: a Retry pressed under an older reply of the same video is followed there."""
    params = _earlier_params(video) or {}
    if given and "telegram" in given:
        params = {**params, "telegram": {**params.get("telegram", {}), **given["telegram"]}}
    return params or given


def _earlier_params(video: Video) -> dict | None:
    try:
        return jobs.get(video.job_id).params if video.job_id else None
    except NotFoundError:  # expired (jobs live 30 days)
        return None


def _not_failed(video: Video) -> ConflictError:
    return ConflictError(f"video {video.video_id} is {video.status}: only a failed video can be retried",
                         code="not_failed")


def checked_text(value: str | None, name: str) -> str | None:
    """A text field as it will be stored (captured or edited): valid Unicode (no lone surrogate) of at most
    ``TEXT_LIMITS[name]`` characters (``tags``: one tag's)."""
    if value is None:
        return None
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise BadRequestError(f"{name} is not valid text", code=f"invalid_{name}") from None
    if len(value) > TEXT_LIMITS[name]:
        raise BadRequestError(f"{name} must be at most {TEXT_LIMITS[name]} characters", code=f"invalid_{name}")
    return value


def checked_tags(tags: list[str] | None) -> list[str]:
    """At most ``MAX_TAGS`` tags, each a checked text that is not blank."""
    tags = tags or []
    if len(tags) > MAX_TAGS:
        raise BadRequestError(f"a video takes at most {MAX_TAGS} tags", code="invalid_tags")
    for tag in tags:
        checked_text(tag, "tags")
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
