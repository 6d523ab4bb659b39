"""The worker's use case: run one job end to end, or fail it with a reason and leave nothing behind.

capture: claim → metadata first → limits → reserve quota → download → probe → remux/transcode →
thumbnails → upload → settle quota → ready. Permanent errors fail the job at once; anything else
is raised so that SQS redelivers it with backoff, until the last attempt marks it failed.
"""

from __future__ import annotations

import shutil
import tempfile
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

from chalicelib import jobs, quotas, storage, videos
from chalicelib.errors import JobCancelledError, NotFoundError, PermanentJobError, PrsnlError
from chalicelib.models import Job, Video, condition_failed
from chalicelib.observability import logger
from chalicelib.wiring import Services

LIVE_STATES = ("is_live", "is_upcoming", "post_live")


@dataclass(frozen=True)
class Outcome:
    """What happened to one delivery: ``ran`` is False for a duplicate or a job already finished."""

    ran: bool
    status: str


def process_job(message: jobs.JobMessage, *, services: Services, lease_seconds: float) -> Outcome:
    try:
        job = jobs.get(message.job_id)
    except NotFoundError:
        logger.warning("job record missing; message dropped", extra={"job_id": message.job_id})
        return Outcome(False, "missing")
    now = services.clock.now()
    if not jobs.claim(job, now=now, lease=timedelta(seconds=max(lease_seconds, 30))):
        logger.info("job already claimed or finished", extra={"job_id": job.job_id, "status": job.status})
        return Outcome(False, job.status)
    job.refresh()
    work = _Run(job, services)
    try:
        work.run()
    except JobCancelledError:
        work.cleanup_outputs()
        jobs.cancel(job, now=services.clock.now())
        return Outcome(True, jobs.CANCELLED)
    except PermanentJobError as exc:
        work.fail(exc)
        return Outcome(True, jobs.FAILED)
    except Exception as exc:
        error = exc if isinstance(exc, PrsnlError) else PrsnlError(str(exc), code="transient")
        if job.attempts >= services.settings.max_attempts:
            work.fail(error)
        else:
            work.release_for_retry(error)
        raise
    return Outcome(True, jobs.SUCCEEDED)


class _Run:
    """One attempt at one job; remembers what it reserved and uploaded so a failure can undo it."""

    def __init__(self, job: Job, services: Services):
        self.job = job
        self.services = services
        self.settings = services.settings
        self.progress = jobs.ProgressReporter(job, interval=self.settings.progress_interval_seconds)
        self.uploaded: list[str] = []
        self.reserved = 0
        self.video: Video | None = None

    def run(self) -> None:
        try:
            self.video = videos.get(self.job.video_id)
        except NotFoundError:
            raise JobCancelledError("the video was deleted") from None
        workdir = Path(tempfile.mkdtemp(prefix=f"prsnl-{self.job.job_id}-"))
        try:
            self._capture(workdir)
        finally:
            shutil.rmtree(workdir, ignore_errors=True)

    def _capture(self, workdir: Path) -> None:
        from chalicelib import platforms
        from chalicelib.media import probe as media_probe
        from chalicelib.media import thumbnails, transcode

        video, settings = self.video, self.settings
        platform = platforms.get_platform(video.platform)
        options = platform.ydl_options(settings)
        allow_loopback = settings.allow_loopback_urls
        self.progress("probing")
        info = self.services.downloader.probe(video.canonical_url, options=options, allow_loopback=allow_loopback,
                                              classify=platform.classify_error)
        estimate = self._check_before_download(info)
        self._reserve(estimate)
        max_bytes = min(settings.max_video_bytes, self._bytes_left() + self.reserved)
        source = self.services.downloader.download(info, workdir, options=options, max_bytes=max_bytes,
                                                   allow_loopback=allow_loopback, on_progress=self.progress,
                                                   classify=platform.classify_error)
        self.progress("processing", percent=0)
        source_info = media_probe.probe(source)
        self._check_duration(source_info.duration)
        output = workdir / "output.mp4"
        plan = transcode.plan(source_info, transcode.Limits.from_settings(settings))
        final_info = transcode.run(plan, source, output,
                                   on_progress=lambda f: self.progress("processing", percent=round(100 * f, 1)))
        thumbs = thumbnails.make_thumbnails(output, final_info, workdir)
        self.progress("uploading")
        file_key = storage.video_key(video.video_id, video.created_at)
        thumb_keys = {size: storage.thumbnail_key(video.video_id, video.created_at, size) for size in thumbs}
        total = self._upload(output, file_key)
        for size, path in thumbs.items():
            total += self._upload(path, thumb_keys[size])
        quotas.settle(video.owner_id, reserved=self.reserved, actual=total)
        self.reserved = 0
        self._mark_ready(file_key, thumb_keys, total, final_info.as_record(), platform.to_metadata(info))
        jobs.succeed(self.job, now=self.services.clock.now())

    def _check_before_download(self, info: dict) -> int:
        from chalicelib.media.download import expected_size

        if info.get("is_live") or info.get("live_status") in LIVE_STATES:
            raise PermanentJobError("live streams and premieres cannot be saved", code="live_stream")
        self._check_duration(info.get("duration"))
        size = expected_size(info) or 0
        if size > self.settings.max_video_bytes:
            raise PermanentJobError(f"the video is {size} bytes, over the limit of "
                                    f"{self.settings.max_video_bytes}", code="too_large")
        return size

    def _check_duration(self, duration: float | None) -> None:
        if duration and duration > self.settings.max_duration_seconds:
            raise PermanentJobError(f"the video lasts {duration:.0f} s, over the limit of "
                                    f"{self.settings.max_duration_seconds} s", code="too_long")

    def _reserve(self, nbytes: int) -> None:
        quotas.reserve(self.video.owner_id, nbytes)
        self.reserved = nbytes
        try:
            self.video.update(actions=[Video.bytes_reserved.set(nbytes), Video.status.set(videos.PROCESSING)],
                              condition=Video.video_id.exists())
        except Exception as exc:
            if condition_failed(exc):
                raise JobCancelledError("the video was deleted") from None
            raise

    def _bytes_left(self) -> int:
        from chalicelib.users import get_user

        return max(0, get_user(self.video.owner_id).bytes_available)

    def _upload(self, path: Path, key: str) -> int:
        self.uploaded.append(key)
        return self.services.storage.put_file(path, key)

    def _mark_ready(self, file_key: str, thumb_keys: dict, total: int, probe: dict, meta: dict) -> None:
        now = self.services.clock.now()
        actions = [Video.status.set(videos.READY), Video.file_key.set(file_key), Video.thumbnails.set(thumb_keys),
                   Video.bytes_stored.set(total), Video.bytes_reserved.set(0), Video.updated_at.set(now),
                   Video.platform_meta.set(meta), Video.error_code.remove(), Video.error_message.remove()]
        actions += [getattr(Video, name).set(value) for name, value in probe.items()
                    if value is not None and hasattr(Video, name)]
        if not self.video.title and meta.get("title"):
            actions.append(Video.title.set(meta["title"]))
        try:
            self.video.update(actions=actions, condition=Video.video_id.exists())
        except Exception as exc:
            if condition_failed(exc):  # deleted while we worked: give the bytes back
                quotas.release(self.video.owner_id, used=total, videos=1)
                raise JobCancelledError("the video was deleted while it was processed") from None
            raise

    def fail(self, error: PrsnlError) -> None:
        logger.warning("job failed", extra={"job_id": self.job.job_id, "code": error.code, "reason": error.message})
        self.cleanup_outputs()
        now = self.services.clock.now()
        jobs.fail(self.job, now=now, error_code=error.code, message=error.message)
        if self.video is not None:
            try:
                videos.mark_failed(self.video, now=now, code=error.code, message=error.message)
            except Exception as exc:
                if not condition_failed(exc):
                    raise

    def release_for_retry(self, error: PrsnlError) -> None:
        logger.warning("job will be retried", extra={"job_id": self.job.job_id, "attempt": self.job.attempts,
                                                      "code": error.code, "reason": error.message})
        self.cleanup_outputs()
        jobs.release_for_retry(self.job, now=self.services.clock.now(), error_code=error.code, message=error.message)

    def cleanup_outputs(self) -> None:
        """Remove what this attempt uploaded and give back what it reserved."""
        if self.uploaded:
            self.services.storage.delete(self.uploaded)
            self.uploaded = []
        if self.reserved and self.video is not None:
            quotas.release(self.video.owner_id, reserved=self.reserved)
            self.reserved = 0
