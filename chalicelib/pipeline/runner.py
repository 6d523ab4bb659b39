"""The worker's use case: run one job end to end, or fail it with a reason and leave nothing behind.

capture: claim → metadata first → limits → reserve quota → download → probe → remux/transcode →
thumbnails → upload → commit. Permanent errors fail the job at once; anything else is raised so
that SQS redelivers it with backoff, until the last attempt marks it failed.

The commit is one transaction (the video's stored state, the job's success, the quota's settle):
before it a failure undoes the attempt's uploads and reservation; after it nothing can, and the
chat message is best effort. A rendition (transcode job) goes through the same commit.
"""

from __future__ import annotations

import shutil
import tempfile
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

from chalicelib import netguard, observability, renditions
from chalicelib.errors import (
    BadRequestError,
    JobCancelledError,
    NotFoundError,
    PermanentJobError,
    PrsnlError,
    QuotaExceededError,
    TransientJobError,
    UnsupportedUrlError,
)
from chalicelib.observability import logger
from chalicelib.records import jobs, quotas, videos
from chalicelib.records.models import Job, Video, condition_failed, failed_items, transact
from chalicelib.storage import layout
from chalicelib.wiring import Services


@dataclass(frozen=True)
class _Item:
    """One stored item of a capture: the record it becomes and what was uploaded for it."""

    video_id: str
    kind: str
    file_key: str
    thumb_keys: dict[str, str]
    sizes: dict[str, int]
    record: dict
    meta: dict
    thumbnail: Path | None


class _TakenBackError(Exception):
    """The job stopped being this attempt's while it ran (the reaper took it back after its lease ended)."""


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
    except _TakenBackError:  # the job is the reaper's now (queued again or failed): leave it as the reaper left it
        work.cleanup_outputs()
        return Outcome(False, "taken_back")
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
                self._transcode(workdir)
            else:
                self._capture(workdir)
        finally:
            shutil.rmtree(workdir, ignore_errors=True)

    def _capture(self, workdir: Path) -> None:
        """Every item of the link (a post may hold several videos and pictures) stored under this one capture."""
        platform, downloader = self._source()
        from_link = self.video.platform != "telegram"  # a file sent to the bot has no link to check and is one file
        self.progress("probing")
        if from_link:
            platform = self._follow_short_link(platform, downloader)
            if platform is None:
                return
        options = platform.ydl_options(self.settings)
        allow_loopback = self.settings.allow_loopback_urls
        if from_link and not platform.fixed_hosts:
            netguard.check_url(self.video.canonical_url, allow_loopback=allow_loopback)
        info = downloader.probe(self.video.canonical_url, options=options, allow_loopback=allow_loopback,
                                classify=platform.classify_error)
        items = platform.entries(info) if from_link else [{**info, "kind": self.video.kind}]
        self._reserve(sum(self._check_before_download(item) for item in items))
        ids = [self.video.video_id] + [self.services.clock.new_id() for _ in items[1:]]
        stored = [self._make_item(item, video_id, workdir / str(index), platform, downloader, options)
                  for index, (item, video_id) in enumerate(zip(items, ids, strict=True))]
        self._store(stored)

    def _make_item(self, item: dict, video_id: str, workdir: Path, platform, downloader, options: dict) -> _Item:
        """Download one item, make its browser MP4 (or JPEG) and thumbnails, and upload them under its record's keys."""
        from chalicelib.media import images, thumbnails, transcode
        from chalicelib.media import probe as media_probe

        workdir.mkdir()
        created = self.video.created_at
        max_bytes = min(self.settings.max_video_bytes, self._bytes_left() + self.reserved)
        with self.stats.timed("download"):
            source = downloader.download(item, workdir, options=options, max_bytes=max_bytes,
                                         allow_loopback=self.settings.allow_loopback_urls,
                                         on_progress=self.progress, classify=platform.classify_error)
        self.stats.download_bytes += source.stat().st_size
        self.progress("processing", percent=0)
        if item["kind"] == images.IMAGE:
            output, thumbs, record = images.prepare(source, workdir)
            file_key = layout.image_key(video_id, created)
        else:
            source_info = media_probe.probe(source)
            self._check_duration(source_info.duration)
            output = workdir / "output.mp4"
            plan = transcode.plan(source_info, transcode.Limits.from_settings(self.settings))
            with self.stats.timed(plan.kind):
                final_info = transcode.run(plan, source, output,
                                           on_progress=lambda f: self.progress("processing", percent=round(100 * f, 1)))
            with self.stats.timed("thumbnails"):
                thumbs = thumbnails.make_thumbnails(output, final_info, workdir)
            file_key, record = layout.video_key(video_id, created), final_info.as_record()
        self.progress("uploading")
        thumb_keys = {size: layout.thumbnail_key(video_id, created, size) for size in thumbs}
        sizes = {file_key: self._upload(output, file_key)}
        sizes.update({thumb_keys[size]: self._upload(path, thumb_keys[size]) for size, path in thumbs.items()})
        return _Item(video_id, item["kind"], file_key, thumb_keys, sizes, record, platform.to_metadata(item),
                     thumbs.get("medium"))

    def _follow_short_link(self, platform, downloader):
        """A short link (vm.tiktok.com, t.co, Instagram /share/) becomes the link it redirects to, with that link's
        platform, id and de-duplication key. None when the owner already has that video: the job then ends on
        it and this capture's record is removed."""
        from chalicelib import platforms
        from chalicelib.platforms import options

        video = self.video
        if not platforms.resolve(video.canonical_url).needs_resolution:
            return platform
        final = downloader.follow_redirects(video.canonical_url, allow_loopback=self.settings.allow_loopback_urls,
                                            arrived=_is_item_link, proxy=options.proxy(platform.name))
        resolved = platforms.resolve(final)
        if resolved.needs_resolution:
            raise PermanentJobError("the short link leads to no video", code="unsupported_url")
        existing = videos.find_by_source(video.owner_id, resolved.dedupe_key)
        if existing is not None and existing.video_id != video.video_id:
            if existing.status != videos.FAILED:
                self._end_on(existing)
                return None
            existing.delete()  # a failed earlier try: replaced, so the owner keeps one record
        item_id = resolved.platform_id
        self._update_video([Video.canonical_url.set(resolved.canonical_url), Video.platform.set(resolved.platform),
                            Video.platform_id.set(item_id) if item_id else Video.platform_id.remove(),
                            Video.owner_source.set(videos.owner_source(video.owner_id, resolved.dedupe_key))])
        return platforms.get_platform(resolved.platform)

    def _end_on(self, existing: Video) -> None:
        """The owner already has what the short link leads to: the job points at it, the duplicate record goes."""
        self.job.update(actions=[Job.video_id.set(existing.video_id)])
        self.video.delete()
        self.video = existing
        jobs.succeed(self.job, now=self.services.clock.now())
        if existing.status == videos.READY:
            self._best_effort(lambda: self.services.notifier.ready(self.job, existing))

    def _source(self):
        """Where the media comes from: a file sent to the bot (Telegram's file API), else the link (yt-dlp)."""
        from chalicelib import platforms

        if self.video.platform == "telegram":
            from chalicelib.platforms import telegram

            return telegram.TELEGRAM, telegram.TelegramFileDownloader(self.job, self.services)
        return platforms.get_platform(self.video.platform), self.services.downloader

    def _store(self, items: list[_Item]) -> None:
        """Mark the capture and the post's further items ready and count their bytes, all in the commit."""
        video = self.video
        sizes = {key: size for item in items for key, size in item.sizes.items()}
        first, *further = items
        actions = [getattr(Video, name).set(value) for name, value in self._ready_fields(first).items()]
        actions += [Video.error_code.remove(), Video.error_message.remove()]
        if not video.title and first.meta.get("title"):
            actions.append(Video.title.set(first.meta["title"]))
        children = tuple(self._further_item(item, index) for index, item in enumerate(further, 1))
        self._commit(actions, saves=children, actual=sum(sizes.values()), videos=len(items),
                     usage=quotas.Usage.of(video, sizes))
        self._best_effort(video.refresh)
        self._best_effort(lambda: self.services.notifier.ready(self.job, video, thumbnail=first.thumbnail))

    def _commit(self, video_actions: list, *, saves: tuple = (), actual: int, videos: int,
                usage: quotas.Usage) -> None:
        """The one commit point: the video's stored state, the job's success and the quota's settle are written
        together or not at all, so a failure after it can neither remove a stored file nor count it twice."""
        video = self.video
        updates = ((video, video_actions, Video.video_id.exists()),
                   jobs.succeed_update(self.job, now=self.services.clock.now()),
                   quotas.settle_update(video.owner_id, reserved=self.reserved, actual=actual, videos=videos,
                                        usage=usage))
        _all_or_nothing(updates, saves=saves, errors=(
            JobCancelledError("the video was deleted while it was processed"),
            _TakenBackError(),
            QuotaExceededError(f"the stored video takes {actual} bytes, more than the quota has left")))
        self.uploaded, self.reserved = [], 0  # the video's own now: nothing undoes them

    def _best_effort(self, step) -> None:
        """A step after the commit: the job succeeded whatever happens here, so a failure is only logged."""
        try:
            step()
        except Exception:
            logger.exception("a step after the commit failed", extra={"job_id": self.job.job_id})

    def _transcode(self, workdir: Path) -> None:
        """A rendition: fetch the stored file, scale it down, upload it under its quality's key, commit."""
        from chalicelib.media import probe as media_probe
        from chalicelib.media import transcode

        video = self.video
        quality = self.job.params["quality"]
        if video.status != videos.READY or not video.file_key:
            raise PermanentJobError(f"video {video.video_id} is {video.status}, not ready", code="not_ready")
        self.progress("downloading")
        source = self.services.storage.get_file(video.file_key, workdir / "source.mp4")
        info = media_probe.probe(source)
        height = renditions.QUALITIES[quality]
        try:
            plan = transcode.plan(info, transcode.Limits.from_settings(self.settings), target_height=height)
        except BadRequestError as exc:
            raise PermanentJobError(exc.message, code=exc.code) from None
        estimate = min(info.size, int(info.size * (height / max(1, renditions.source_height(video))) ** 2))
        quotas.reserve(video.owner_id, estimate)  # a rendition's reservation lives only in the counters
        self.reserved = estimate
        output = workdir / f"{quality}.mp4"
        with self.stats.timed(plan.kind):
            result = transcode.run(plan, source, output,
                                   on_progress=lambda f: self.progress("processing", percent=round(100 * f, 1)))
        self.progress("uploading")
        key = layout.video_key(video.video_id, video.created_at, quality)
        size = self._upload(output, key)
        entry = renditions.ready_entry(self.job, key, size, result.as_record())
        self._commit([Video.renditions[quality].set(entry), Video.object_sizes[key].set(size),
                      Video.bytes_stored.add(size), Video.updated_at.set(self.services.clock.now())],
                     actual=size, videos=0, usage=quotas.Usage.of(video, {key: size}))

    def _ready_fields(self, item: _Item) -> dict:
        """The record fields of a stored item: status, keys, sizes, probe and platform metadata."""
        fields = {"status": videos.READY, "kind": item.kind, "file_key": item.file_key, "thumbnails": item.thumb_keys,
                  "bytes_stored": sum(item.sizes.values()), "object_sizes": item.sizes, "bytes_reserved": 0,
                  "updated_at": self.services.clock.now(), "platform_meta": item.meta}
        fields.update({name: value for name, value in item.record.items()
                       if value is not None and hasattr(Video, name)})
        return fields

    def _further_item(self, item: _Item, index: int) -> Video:
        """A further item of a post: a record of its own (listed, counted and deleted like any capture), grouped
        under the capture by ``parent_video_id`` and ``item_index``, with a de-duplication key of its own."""
        parent = self.video
        return Video(item.video_id, owner_id=parent.owner_id, created_at=parent.created_at, source=parent.source,
                     source_url=parent.source_url, canonical_url=parent.canonical_url,
                     owner_source=f"{parent.owner_source}#{index}", platform=parent.platform,
                     platform_id=item.meta.get("platform_id"), title=item.meta.get("title"), tags=list(parent.tags),
                     note=parent.note, parent_video_id=parent.video_id, item_index=index, **self._ready_fields(item))

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
        """Take the bytes from the quota, then record them on the video: from there exactly one of the worker's
        cleanup, the reaper or a delete gives them back (whichever clears the video's ``bytes_reserved``). Two
        plain writes, not a transaction: reservations contend, and a refused one must cost nothing."""
        quotas.reserve(self.video.owner_id, nbytes)
        try:
            self._update_video([Video.bytes_reserved.set(nbytes), Video.status.set(videos.PROCESSING)])
        except JobCancelledError:  # deleted meanwhile: nobody else knows of these bytes
            quotas.release(self.video.owner_id, reserved=nbytes)
            raise
        self.reserved = nbytes

    def _update_video(self, actions: list) -> None:
        try:
            self.video.update(actions=actions, condition=Video.video_id.exists())
        except Exception as exc:
            if condition_failed(exc):
                raise JobCancelledError("the video was deleted") from None
            raise

    def _bytes_left(self) -> int:
        from chalicelib.records.users import get_user

        return max(0, get_user(self.video.owner_id).bytes_available)

    def _upload(self, path: Path, key: str) -> int:
        self.uploaded.append(key)
        return self.services.storage.put_file(path, key)

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
        """Remove what this attempt uploaded and give back what it reserved, once."""
        if self.uploaded:
            self.services.storage.delete(self.uploaded)
            self.uploaded = []
        if self.reserved and self.video is not None:
            self._give_back(self.reserved)
            self.reserved = 0

    def _give_back(self, nbytes: int) -> None:
        """A capture's reservation is cleared from its video in the same write; when it is not there any more, the
        reaper or the video's delete gave it back already. A rendition's lives only in the counters."""
        give_back = quotas.release_update(self.video.owner_id, reserved=nbytes)
        if self.job.kind == renditions.KIND:
            transact(updates=(give_back,))
            return
        try:
            transact(updates=(give_back, (self.video, [Video.bytes_reserved.set(0)], Video.bytes_reserved == nbytes)))
        except Exception as exc:
            if not condition_failed(exc):
                raise


def _all_or_nothing(updates: tuple, *, errors: tuple, saves: tuple = ()) -> None:
    """Write ``updates`` (and ``saves``) in one transaction; when conditions fail, raise the error given for the
    first update whose condition did not hold."""
    try:
        transact(saves=saves, updates=updates)
    except Exception as exc:
        error = next((error for error, did in zip(errors, failed_items(exc)[len(saves):], strict=False) if did), None)
        if error is None:
            raise
        raise error from None


def _is_item_link(url: str) -> bool:
    """A link some platform reads as one item (not another short link, nor a page it refuses)."""
    from chalicelib import platforms

    try:
        return not platforms.resolve(url).needs_resolution
    except UnsupportedUrlError:
        return False
