"""The capture use case, shared by the API and the Telegram bot: check a link, record it, queue the job."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from chalicelib import netguard, observability, platforms
from chalicelib.errors import BadRequestError, QuotaExceededError
from chalicelib.ops import metrics
from chalicelib.records import jobs, users, videos
from chalicelib.records.models import Job, Video

if TYPE_CHECKING:
    from chalicelib.wiring import Services

MAX_URL_LENGTH = 2048


@dataclass(frozen=True)
class CaptureResult:
    video: Video
    job: Job | None
    created: bool


def capture(url: str, *, owner_id: str, services: Services, source: str = "api", title: str | None = None,
            tags: list[str] | None = None, note: str | None = None, correlation_id: str | None = None,
            job_params: dict | None = None) -> CaptureResult:
    """Queue a link for download, or return the owner's existing video of the same thing."""
    url = (url or "").strip()
    if not url or len(url) > MAX_URL_LENGTH:
        raise BadRequestError(f"url must be a link of at most {MAX_URL_LENGTH} characters", code="invalid_url")
    resolved = platforms.resolve(url)
    if not platforms.get_platform(resolved.platform).fixed_hosts:  # a host the user chose: refuse private ones now
        netguard.check_url(resolved.canonical_url, allow_loopback=services.settings.allow_loopback_urls)
    return capture_resolved(resolved, url, owner_id=owner_id, services=services, source=source, title=title,
                            tags=tags, note=note, correlation_id=correlation_id, job_params=job_params)


def capture_resolved(resolved: platforms.Resolved, url: str, *, owner_id: str, services: Services, source: str,
                     title: str | None = None, tags: list[str] | None = None, note: str | None = None,
                     correlation_id: str | None = None, job_params: dict | None = None,
                     kind: str = videos.VIDEO) -> CaptureResult:
    """Record and queue what is already resolved: a checked link, or a file the bot received (no link)."""
    existing = videos.find_by_source(owner_id, resolved.dedupe_key)
    if existing is not None and existing.status != videos.FAILED:
        metrics.capture_requested(resolved.platform, source=source, created=False)
        return CaptureResult(existing, None, created=False)
    if users.get_user(owner_id).bytes_available <= 0:  # the worker's reservation is the real check
        raise QuotaExceededError("the storage quota is used up: delete a video first")

    now = services.clock.now()
    video_id, job_id = services.clock.new_id(), services.clock.new_id()
    video = videos.new_capture(video_id, owner_id=owner_id, job_id=job_id, now=now, source=source, url=url,
                               resolved=resolved, title=title, tags=list(tags or []), note=note, kind=kind)
    job = jobs.new_job(job_id, video_id=video_id, owner_id=owner_id, kind=jobs.CAPTURE, now=now, params=job_params)
    if existing is not None:  # a failed earlier try: replace it so the owner keeps one record
        videos.remove(existing)
    videos.create_with_job(video, job)
    message = jobs.JobMessage(job.job_id, video.video_id, owner_id, kind=jobs.CAPTURE,
                              correlation_id=correlation_id or observability.logger.get_correlation_id())
    try:
        services.queue.send(message)
    except Exception:
        videos.undo_create(video, job)
        raise
    metrics.capture_requested(resolved.platform, source=source, created=True)
    return CaptureResult(video, job, created=True)
