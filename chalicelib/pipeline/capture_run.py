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
from chalicelib.media import audio, download, images, thumbnails, transcode
from chalicelib.media import probe as media_probe
from chalicelib.pipeline import captions, fanout, rules
from chalicelib.pipeline.run import Run
from chalicelib.platforms import options as platform_options
from chalicelib.records import events, jobs, quotas, users, videos
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
    captioned: captions.Captioned


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
        audio_options = platform_options.audio_only(options, self.settings.max_video_bytes)  # with the artwork
        audio_only = self.video.kind == videos.AUDIO
        with self.services.slots.io:
            info = downloader.probe(self.video.canonical_url, options=audio_options if audio_only else options,
                                    allow_loopback=self.settings.allow_loopback_urls, classify=platform.classify_error)
        items = (platform.entries(info, audio_only=audio_only) if platform.from_link
                 else [{**info, "kind": self.video.kind}])
        self._reserve(sum(rules.check_before_download(item, self.settings) for item in items))
        ids = [self.video.video_id] + [self.services.clock.new_id() for _ in items[1:]]
        stored = [self._make_item(item, video_id, workdir / str(index), platform, downloader,
                                  audio_options if item["kind"] == videos.AUDIO else options, single=len(items) == 1)
                  for index, (item, video_id) in enumerate(zip(items, ids, strict=True))]
        if not self.waiting:
            self.store(stored)

    def _make_item(self, item: dict, video_id: str, workdir: Path, platform, downloader, options: dict, *,
                   single: bool) -> _Item | None:
        """Download one item, make its browser MP4 (or JPEG, or M4A) and thumbnails, and upload them under its
        record's keys; None when its transcode was fanned out to segment jobs (the last of them stores it)."""
        workdir.mkdir()
        created, kind, meta = self.video.created_at, item["kind"], platform.to_metadata(item)
        max_bytes = min(self.settings.max_video_bytes, self._bytes_left() + self.reserved)
        with self.services.slots.io, self.stats.timed("download"):
            source = downloader.download(item, workdir, options=options, max_bytes=max_bytes,
                                         allow_loopback=self.settings.allow_loopback_urls,
                                         on_progress=self.progress, classify=platform.classify_error)
        self.stats.download_bytes += source.stat().st_size
        self.progress("processing", percent=0)
        if kind == videos.IMAGE:
            with self.on_the_cores():
                output, thumbs, record = images.prepare(source, workdir)
            return self._uploaded(video_id, kind, output, thumbs, record, meta, layout.image_key(video_id, created))
        with self.on_the_cores():
            source_info = media_probe.probe(source)
        rules.check_duration(source_info.duration, self.settings)
        kind = rules.stored_kind(kind, source_info)
        if kind == videos.AUDIO:
            with self.on_the_cores():
                output, thumbs, record = self._audio(source, source_info, workdir)
            return self._uploaded(video_id, kind, output, thumbs, record, meta, layout.audio_key(video_id, created))
        plan = transcode.plan(source_info, transcode.Limits.from_settings(self.settings))
        if rules.fans_out(plan, self.settings, single=single):
            fanout.start(self, plan, source, workdir, join={"kind": kind, "meta": meta})
            self.waiting = True
            return None
        output = workdir / "output.mp4"
        with self.on_the_cores(), self.stats.timed(plan.kind):
            final_info = transcode.run(plan, source, output,
                                       on_progress=lambda f: self.progress("processing", percent=round(100 * f, 1)))
        captioned = captions.store(self, item, source, source_info, workdir, video_id=video_id, options=options)
        return self.finish_video(video_id, kind, output, final_info, meta, workdir, captioned)

    def finish_video(self, video_id: str, kind: str, output: Path, final_info, meta: dict, workdir: Path,
                     captioned: captions.Captioned | None = None) -> _Item:
        """A verified browser MP4: its thumbnails, and both uploaded under the record's keys (with its captions)."""
        with self.on_the_cores(), self.stats.timed("thumbnails"):
            thumbs = thumbnails.make_thumbnails(output, final_info, workdir)
        return self._uploaded(video_id, kind, output, thumbs, final_info.as_record(), meta,
                              layout.video_key(video_id, self.video.created_at), captioned)

    def _uploaded(self, video_id: str, kind: str, output: Path, thumbs: dict, record: dict, meta: dict,
                  file_key: str, captioned: captions.Captioned | None = None) -> _Item:
        created, captioned = self.video.created_at, captioned or captions.Captioned()
        self.progress("uploading")
        thumb_keys = {size: layout.thumbnail_key(video_id, created, size) for size in thumbs}
        sizes = {file_key: self.upload(output, file_key), **captioned.sizes}
        sizes.update({thumb_keys[size]: self.upload(path, thumb_keys[size]) for size, path in thumbs.items()})
        return _Item(video_id, kind, file_key, thumb_keys, sizes, record, meta, thumbs.get("medium"), output,
                     captioned)

    def _audio(self, source: Path, source_info: media_probe.MediaInfo, workdir: Path) -> tuple[Path, dict, dict]:
        """The M4A (AAC copied, or encoded), and thumbnails from the platform's artwork or the file's cover art."""
        output = workdir / "output.m4a"
        plan = audio.plan(source_info)
        with self.stats.timed(plan.kind):
            final_info = audio.run(plan, source, output,
                                   on_progress=lambda f: self.progress("processing", percent=round(100 * f, 1)))
        with self.stats.timed("thumbnails"):
            thumbs = _artwork_thumbnails(download.artwork(workdir), source, source_info, workdir)
        return output, thumbs, audio.as_record(final_info)

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
        if video.kind == videos.AUDIO:  # de-duplicated as the item's sound, as the capture was
            resolved = resolved.as_audio()
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
        """The owner already has what the short link leads to: the job succeeds on it and the duplicate record goes,
        in one write (a worker killed between them left its next attempt capturing the owner's video again)."""
        ended = jobs.ended_on_update(self.job, existing.video_id, now=self.services.clock.now())
        self.end_without_storing(ended, deletes=videos.removal(self.video))
        self.video = existing
        if existing.status == videos.READY:
            self.best_effort(lambda: self.services.notifier.ready(self.job, existing))

    def store(self, items: list[_Item]) -> None:
        """Mark the capture and the post's further items ready and count their bytes, all in the commit."""
        video, now = self.video, self.services.clock.now()
        sizes = {key: size for item in items for key, size in item.sizes.items()}
        first, *further = items
        children = tuple(videos.further_item(video, item.video_id, index=index, fields=self._fields(item, now),
                                             meta=item.meta) for index, item in enumerate(further, 1))
        fields = self._fields(first, now)
        title = video.title or first.meta.get("title")
        announced = (events.ready(video, {**fields, "title": title}, now=now),
                     *(events.ready(child, {}, now=now) for child in children))
        self.commit(videos.ready_update(video, fields, title=first.meta.get("title")),
                    saves=(*children, *announced), actual=sum(sizes.values()), videos=len(items),
                    usage=quotas.Usage.of(video, sizes))
        self.best_effort(video.refresh)
        self.best_effort(lambda: self.services.notifier.ready(self.job, video, thumbnail=first.thumbnail,
                                                              media=first.file))

    @staticmethod
    def _fields(item: _Item, now) -> dict:
        return videos.stored_fields(kind=item.kind, file_key=item.file_key, thumbnails=item.thumb_keys,
                                    sizes=item.sizes, probe=item.record, meta=item.meta, now=now,
                                    captions=item.captioned.captions, transcript=item.captioned.transcript)

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


def _artwork_thumbnails(artwork: Path | None, source: Path, info: media_probe.MediaInfo, workdir: Path) -> dict:
    """An audio item's thumbnails: from the platform's artwork, else from the file's cover art, else none. Artwork is
    a courtesy: one ffmpeg cannot read leaves the sound kept without it."""
    pictures = [(artwork, None)] if artwork is not None else []
    pictures += [(source, info.cover)] if info.cover is not None else []
    for picture, stream in pictures:
        try:
            return thumbnails.from_picture(picture, workdir, stream)
        except PermanentJobError:
            continue
    return {}


def _is_item_link(url: str) -> bool:
    """A link some platform reads as one item (not another short link, nor a page it refuses)."""
    try:
        return not platforms.resolve(url).needs_resolution
    except UnsupportedUrlError:
        return False
