"""A rendition: the stored file fetched, scaled down, uploaded under its quality's key, committed like a capture.

A long one is transcoded in segments like a long capture (``fanout``); its join ends in the same ``finish``.
"""

from __future__ import annotations

from pathlib import Path

from chalicelib import renditions
from chalicelib.errors import BadRequestError, JobCancelledError, PermanentJobError
from chalicelib.media import probe as media_probe
from chalicelib.media import transcode
from chalicelib.pipeline import fanout, rules
from chalicelib.pipeline.run import Run
from chalicelib.records import events, jobs, quotas, videos
from chalicelib.storage import layout


class RenditionRun(Run):
    def execute(self, workdir: Path) -> None:
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
        quotas.reserve(video.owner_id, estimate)
        if not jobs.hold_reservation(self.job, estimate):  # a rendition's reservation is held on its job
            quotas.release(video.owner_id, reserved=estimate)  # nobody else knows of these bytes
            raise JobCancelledError("the rendition's job ended meanwhile (its video deleted, or taken back)")
        self.reserved = estimate
        if rules.fans_out(plan, self.settings, single=True):
            fanout.start(self, plan, source, workdir, join={})
            self.waiting = True
            return
        output = workdir / f"{quality}.mp4"
        with self.on_the_cores(), self.stats.timed(plan.kind):
            result = transcode.run(plan, source, output,
                                   on_progress=lambda f: self.progress("processing", percent=round(100 * f, 1)))
        self.finish(output, result)

    def finish(self, output: Path, result: media_probe.MediaInfo) -> None:
        """The verified rendition uploaded under its quality's key and committed with the quota's settle."""
        video, quality = self.video, self.job.params["quality"]
        self.progress("uploading")
        key = layout.video_key(video.video_id, video.created_at, quality)
        size = self.upload(output, key)
        entry = renditions.ready_entry(self.job, key, size, result.as_record())
        now = self.services.clock.now()
        self.commit(videos.rendition_ready_update(video, quality, entry, key=key, size=size, now=now),
                    saves=(events.rendition_ready(video, quality, key=key, size=size, now=now),),
                    actual=size, videos=0, usage=quotas.Usage.of(video, {key: size}))
