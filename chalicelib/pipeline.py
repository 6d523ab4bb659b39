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

from chalicelib import jobs, observability, quotas, renditions, storage, urls, videos
from chalicelib.errors import JobCancelledError, NotFoundError, PermanentJobError, PrsnlError, TransientJobError
from chalicelib.models import Job, Video, condition_failed
from chalicelib.observability import logger
from chalicelib.wiring import Services


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
    except Exception as exc:
        error = exc if isinstance(exc, PrsnlError) else _unexpected(exc)
        if not isinstance(error, TransientJobError):  # too large, private, blocked, corrupt...: no retry helps
            work.fail(error)
            observability.job_finished(job.kind, work.video, work.stats, code=error.code)
            return Outcome(True, jobs.FAILED)
        if job.attempts >= services.settings.max_attempts:
            work.fail(error)
            observability.job_finished(job.kind, work.video, work.stats, code=error.code, last_attempt=True)
        else:
            work.release_for_retry(error)
            observability.job_retried(work.video, error.code)
        raise  # SQS redelivers it after the worker's backoff, or moves it to the DLQ after the last attempt
    observability.job_finished(job.kind, work.video, work.stats)
    return Outcome(True, jobs.SUCCEEDED)


def _unexpected(exc: Exception) -> TransientJobError:
    """Network, AWS throttling, a crashed tool: worth another try. The details go to the log, not the user."""
    logger.exception("unexpected failure", extra={"error_type": type(exc).__name__})
    return TransientJobError(f"a temporary failure ({type(exc).__name__})")


class _Run:
    """One attempt at one job; remembers what it reserved and uploaded so a failure can undo it."""

    def __init__(self, job: Job, services: Services):
        self.job = job
        self.services = services
        self.settings = services.settings
        self.progress = jobs.ProgressReporter(job, interval=self.settings.progress_interval_seconds,
                                              on_change=lambda progress: services.notifier.progress(job, progress))
        self.uploaded: list[str] = []
        self.reserved = 0
        self.video: Video | None = None
        self.stats = observability.JobStats()

    def run(self) -> None:
        try:
            self.video = videos.get(self.job.video_id)
        except NotFoundError:
            raise JobCancelledError("the video was deleted") from None
        workdir = Path(tempfile.mkdtemp(prefix=f"prsnl-{self.job.job_id}-", dir=self.settings.work_dir))
        try:
            if self.job.kind == renditions.KIND:
                renditions.make(self, workdir)
            else:
                self._capture(workdir)
        finally:
            shutil.rmtree(workdir, ignore_errors=True)

    def _capture(self, workdir: Path) -> None:
        from chalicelib import images
        from chalicelib.media import probe as media_probe
        from chalicelib.media import thumbnails, transcode

        video, settings = self.video, self.settings
        platform, downloader = self._source()
        options = platform.ydl_options(settings)
        allow_loopback = settings.allow_loopback_urls
        self.progress("probing")
        from_link = video.platform != "telegram"  # a file sent to the bot has no link to check and is one file
        if from_link:
            urls.check_url(video.canonical_url, allow_loopback=allow_loopback)
        info = downloader.probe(video.canonical_url, options=options, allow_loopback=allow_loopback,
                                classify=platform.classify_error)
        if from_link:
            info = _single_video(platform, info)
        estimate = self._check_before_download(info)
        self._reserve(estimate)
        max_bytes = min(settings.max_video_bytes, self._bytes_left() + self.reserved)
        with self.stats.timed("download"):
            source = downloader.download(info, workdir, options=options, max_bytes=max_bytes,
                                         allow_loopback=allow_loopback, on_progress=self.progress,
                                         classify=platform.classify_error)
        self.stats.download_bytes = source.stat().st_size
        self.progress("processing", percent=0)
        if video.kind == images.IMAGE:
            output, thumbs, record = images.prepare(source, workdir)
            return self._store(output, storage.image_key(video.video_id, video.created_at), thumbs, record,
                               platform.to_metadata(info))
        source_info = media_probe.probe(source)
        self._check_duration(source_info.duration)
        output = workdir / "output.mp4"
        plan = transcode.plan(source_info, transcode.Limits.from_settings(settings))
        with self.stats.timed(plan.kind):
            final_info = transcode.run(plan, source, output,
                                       on_progress=lambda f: self.progress("processing", percent=round(100 * f, 1)))
        with self.stats.timed("thumbnails"):
            thumbs = thumbnails.make_thumbnails(output, final_info, workdir)
        self._store(output, storage.video_key(video.video_id, video.created_at), thumbs, final_info.as_record(),
                    platform.to_metadata(info))

    def _source(self):
        """Where the media comes from: a file sent to the bot (Telegram's file API), else the link (yt-dlp)."""
        from chalicelib import platforms

        if self.video.platform == "telegram":
            from chalicelib.telegram import files

            return files.TELEGRAM, files.TelegramFileDownloader(self.job, self.services)
        return platforms.get_platform(self.video.platform), self.services.downloader

    def _store(self, output: Path, file_key: str, thumbs: dict[str, Path], record: dict, meta: dict) -> None:
        """Upload the file and its thumbnails, settle the quota, mark the video ready and tell the chat."""
        video = self.video
        self.progress("uploading")
        thumb_keys = {size: storage.thumbnail_key(video.video_id, video.created_at, size) for size in thumbs}
        sizes = {file_key: self._upload(output, file_key)}
        sizes.update({thumb_keys[size]: self._upload(path, thumb_keys[size]) for size, path in thumbs.items()})
        quotas.settle(video.owner_id, reserved=self.reserved, actual=sum(sizes.values()),
                      usage=quotas.Usage.of(video, sizes))
        self.reserved = 0
        self._mark_ready(file_key, thumb_keys, sizes, record, meta)
        jobs.succeed(self.job, now=self.services.clock.now())
        self.services.notifier.ready(self.job, self.video, thumbnail=thumbs.get("medium"))

    def _check_before_download(self, info: dict) -> int:
        from chalicelib.media.download import expected_size

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

    def _mark_ready(self, file_key: str, thumb_keys: dict, sizes: dict[str, int], probe: dict, meta: dict) -> None:
        now = self.services.clock.now()
        total = sum(sizes.values())
        actions = [Video.status.set(videos.READY), Video.file_key.set(file_key), Video.thumbnails.set(thumb_keys),
                   Video.bytes_stored.set(total), Video.object_sizes.set(sizes), Video.bytes_reserved.set(0),
                   Video.updated_at.set(now),
                   Video.platform_meta.set(meta), Video.error_code.remove(), Video.error_message.remove()]
        actions += [getattr(Video, name).set(value) for name, value in probe.items()
                    if value is not None and hasattr(Video, name)]
        if not self.video.title and meta.get("title"):
            actions.append(Video.title.set(meta["title"]))
        try:
            self.video.update(actions=actions, condition=Video.video_id.exists())
        except Exception as exc:
            if condition_failed(exc):  # deleted while we worked: give the bytes back
                quotas.release(self.video.owner_id, used=total, videos=1, usage=quotas.Usage.of(self.video, sizes))
                raise JobCancelledError("the video was deleted while it was processed") from None
            raise

    def fail(self, error: PrsnlError) -> None:
        logger.warning("job failed", extra={"job_id": self.job.job_id, "code": error.code, "reason": error.message})
        self.cleanup_outputs()
        now = self.services.clock.now()
        jobs.fail(self.job, now=now, error_code=error.code, message=error.message)
        if self.video is not None:
            try:
                if self.job.kind == renditions.KIND:  # the video stays ready; only this rendition failed
                    renditions.mark_failed(self.video, self.job, now=now, code=error.code, message=error.message)
                else:
                    videos.mark_failed(self.video, now=now, code=error.code, message=error.message)
            except Exception as exc:
                if not condition_failed(exc):
                    raise
        self.services.notifier.failed(self.job, error)

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


def _single_video(platform, info: dict) -> dict:
    """The one media item of a link. The platform refuses live streams and posts with nothing to keep.

    Seam for multi-item posts (X posts with several videos, carousels): the platform's ``entries``
    lists every item; storing them all under one capture is the platforms' work. Until then such a
    post fails with its own code rather than being cut down to its first item.
    """
    items = platform.entries(info)
    if len(items) > 1:
        raise PermanentJobError(f"this post holds {len(items)} items; saving several is not supported yet",
                                code="multi_item_post")
    return items[0]
