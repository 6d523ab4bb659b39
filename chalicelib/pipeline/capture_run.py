"""A capture: every item of a link (or the file sent to the bot) stored under the one capture.

probe (metadata first) → limits → reserve quota → download → probe → remux/transcode (or the JPEG of an
image) → thumbnails → upload → commit (the video and the post's further items ready, the job succeeded,
the quota settled, in one transaction).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from chalicelib import netguard, platforms
from chalicelib.errors import JobCancelledError, PermanentJobError, TransientJobError, UnsupportedUrlError
from chalicelib.media import images, thumbnails, transcode
from chalicelib.media import probe as media_probe
from chalicelib.pipeline import rules
from chalicelib.pipeline.run import Run
from chalicelib.records import jobs, quotas, users, videos
from chalicelib.records.models import Video
from chalicelib.storage import layout

SOURCE_TRIES = 3


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
    file: Path  # the stored file, still on disk until the run ends (the bot may send it into the chat)


class CaptureRun(Run):
    def execute(self, workdir: Path) -> None:
        downloader = self.services.downloader_for(self.video, self.job)
        with downloader.one_job():
            self._capture(workdir, downloader)

    def _capture(self, workdir: Path, downloader) -> None:
        platform = platforms.get_platform(self.video.platform)
        self.progress("probing")
        if platform.from_link:
            platform = self._follow_short_link(platform, downloader)
            if platform is None:
                return
            if not platform.fixed_hosts:
                netguard.check_url(self.video.canonical_url, allow_loopback=self.settings.allow_loopback_urls)
        options = platform.ydl_options(self.settings)
        with self.services.slots.io:
            info = downloader.probe(self.video.canonical_url, options=options,
                                    allow_loopback=self.settings.allow_loopback_urls, classify=platform.classify_error)
        items = platform.entries(info) if platform.from_link else [{**info, "kind": self.video.kind}]
        self._reserve(sum(rules.check_before_download(item, self.settings) for item in items))
        ids = [self.video.video_id] + [self.services.clock.new_id() for _ in items[1:]]
        stored = [self._make_item(item, video_id, workdir / str(index), platform, downloader, options)
                  for index, (item, video_id) in enumerate(zip(items, ids, strict=True))]
        self._store(stored)

    def _make_item(self, item: dict, video_id: str, workdir: Path, platform, downloader, options: dict) -> _Item:
        """Download one item, make its browser MP4 (or JPEG) and thumbnails, and upload them under its record's keys."""
        workdir.mkdir()
        created = self.video.created_at
        max_bytes = min(self.settings.max_video_bytes, self._bytes_left() + self.reserved)
        with self.services.slots.io, self.stats.timed("download"):
            source = downloader.download(item, workdir, options=options, max_bytes=max_bytes,
                                         allow_loopback=self.settings.allow_loopback_urls,
                                         on_progress=self.progress, classify=platform.classify_error)
        self.stats.download_bytes += source.stat().st_size
        self.progress("processing", percent=0)
        with self.services.slots.cpu:  # probe, remux or transcode, thumbnails: the cores' work
            if item["kind"] == videos.IMAGE:
                output, thumbs, record = images.prepare(source, workdir)
                file_key = layout.image_key(video_id, created)
            else:
                source_info = media_probe.probe(source)
                rules.check_duration(source_info.duration, self.settings)
                output = workdir / "output.mp4"
                plan = transcode.plan(source_info, transcode.Limits.from_settings(self.settings))
                with self.stats.timed(plan.kind):
                    final_info = transcode.run(plan, source, output, on_progress=lambda f: self.progress(
                        "processing", percent=round(100 * f, 1)))
                with self.stats.timed("thumbnails"):
                    thumbs = thumbnails.make_thumbnails(output, final_info, workdir)
                file_key, record = layout.video_key(video_id, created), final_info.as_record()
        self.progress("uploading")
        thumb_keys = {size: layout.thumbnail_key(video_id, created, size) for size in thumbs}
        sizes = {file_key: self.upload(output, file_key)}
        sizes.update({thumb_keys[size]: self.upload(path, thumb_keys[size]) for size, path in thumbs.items()})
        return _Item(video_id, item["kind"], file_key, thumb_keys, sizes, record, platform.to_metadata(item),
                     thumbs.get("medium"), output)

    def _follow_short_link(self, platform, downloader):
        """A short link (vm.tiktok.com, t.co, Instagram /share/) becomes the link it redirects to, with that link's
        platform, id and de-duplication key. None when the owner already has that video: the job then ends on
        it and this capture's record is removed."""
        video = self.video
        if not platforms.resolve(video.canonical_url).needs_resolution:
            return platform
        final = downloader.follow_redirects(video.canonical_url, allow_loopback=self.settings.allow_loopback_urls,
                                            arrived=_is_item_link, proxy=self.settings.proxy_for(platform.name))
        resolved = platforms.resolve(final)
        if resolved.needs_resolution:
            raise PermanentJobError("the short link leads to no video", code="unsupported_url")
        for _ in range(SOURCE_TRIES):  # another capture may take the item between our read and our write
            claimed = videos.claimed_video_id(video.owner_id, resolved.dedupe_key)
            existing = videos.find(claimed) if claimed else None
            outcome = rules.short_link_outcome(existing, video.video_id)
            if outcome is rules.ShortLink.END_ON_EXISTING:
                self._end_on(existing)
                return None
            replacing = existing if outcome is rules.ShortLink.REPLACE else None  # a failed earlier try: replaced
            if videos.redirected(video, resolved, claimed=claimed, replacing=replacing):
                return platforms.get_platform(resolved.platform)
            if videos.find(video.video_id) is None:
                raise JobCancelledError("the video was deleted")
        raise TransientJobError("the video's link kept changing hands; trying again")

    def _end_on(self, existing: Video) -> None:
        """The owner already has what the short link leads to: the job points at it, the duplicate record goes."""
        jobs.repoint(self.job, existing.video_id)
        videos.remove(self.video)
        self.video = existing
        jobs.succeed(self.job, now=self.services.clock.now())
        if existing.status == videos.READY:
            self.best_effort(lambda: self.services.notifier.ready(self.job, existing))

    def _store(self, items: list[_Item]) -> None:
        """Mark the capture and the post's further items ready and count their bytes, all in the commit."""
        video, now = self.video, self.services.clock.now()
        sizes = {key: size for item in items for key, size in item.sizes.items()}
        first, *further = items
        children = tuple(videos.further_item(video, item.video_id, index=index, fields=self._fields(item, now),
                                             meta=item.meta) for index, item in enumerate(further, 1))
        self.commit(videos.ready_update(video, self._fields(first, now), title=first.meta.get("title")),
                    saves=children, actual=sum(sizes.values()), videos=len(items),
                    usage=quotas.Usage.of(video, sizes))
        self.best_effort(video.refresh)
        self.best_effort(lambda: self.services.notifier.ready(self.job, video, thumbnail=first.thumbnail,
                                                              media=first.file))

    @staticmethod
    def _fields(item: _Item, now) -> dict:
        return videos.stored_fields(kind=item.kind, file_key=item.file_key, thumbnails=item.thumb_keys,
                                    sizes=item.sizes, probe=item.record, meta=item.meta, now=now)

    def _reserve(self, nbytes: int) -> None:
        """Take the bytes from the quota, then record them on the video. Two plain writes, not a transaction:
        reservations contend, and a refused one must cost nothing."""
        quotas.reserve(self.video.owner_id, nbytes)
        if not videos.reserve(self.video, nbytes):  # deleted meanwhile: nobody else knows of these bytes
            quotas.release(self.video.owner_id, reserved=nbytes)
            raise JobCancelledError("the video was deleted")
        self.reserved = nbytes

    def _bytes_left(self) -> int:
        return max(0, users.get_user(self.video.owner_id).bytes_available)


def _is_item_link(url: str) -> bool:
    """A link some platform reads as one item (not another short link, nor a page it refuses)."""
    try:
        return not platforms.resolve(url).needs_resolution
    except UnsupportedUrlError:
        return False
