"""A segment of a fanned-out job (a capture or a rendition), and the join that the last segment to finish does.

A segment job encodes its part of the picture and counts itself done on its parent with an atomic ADD to a set
(a second delivery counts once). The one whose ADD completes the set takes the parent (``jobs.claim_join``: one
taker) and joins in the same attempt: concat, the sound muxed once, the timeline and every cut checked, then the
parent's own finish (a capture's thumbnails and commit, a rendition's commit). A segment that fails is retried on
its own (its message comes back, and a part already counted is not encoded again), and so is a join whose worker
died (the redelivery of the segment that joined takes it again once its lease is over); one that fails for good
fails its parent, which gives back the reservation and removes every temp object of the fan-out.
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING

from chalicelib.errors import JobCancelledError, NotFoundError, PrsnlError, TransientJobError
from chalicelib.media import probe as media_probe
from chalicelib.media import segments, transcode
from chalicelib.ops.leftovers import clear_leftovers
from chalicelib.pipeline import fanout
from chalicelib.pipeline.capture_run import CaptureRun
from chalicelib.pipeline.lease import LeaseKeeper
from chalicelib.pipeline.rendition_run import RenditionRun
from chalicelib.pipeline.run import Run
from chalicelib.records import jobs, quotas, videos
from chalicelib.records.models import Job
from chalicelib.storage import layout

if TYPE_CHECKING:
    from chalicelib.wiring import Services


class SegmentRun(Run):
    def execute(self, workdir: Path) -> None:
        parent = self._parent()
        if jobs.joining(parent) or self._counted(parent, workdir) == parent.segments:
            self._join(parent)  # the last one counted joins; after its worker died joining, its redelivery does
        jobs.succeed(self.job, now=self.services.clock.now())

    def _counted(self, parent: Job, workdir: Path) -> int:
        """The part encoded (unless an earlier attempt's already counted) and counted: how many are done now."""
        part = segments.Part.from_params(self.job.params["part"])
        if part.index not in (parent.segments_done or ()):
            self._encode(part, parent, workdir)
        done = jobs.segment_finished(parent.job_id, part.index, attempt=self.job.params["attempt"])
        if done is None:
            raise JobCancelledError("the capture no longer waits for its segments")
        self.uploaded = []  # counted: the part is the capture's now
        return done

    def recover(self) -> None:
        """A segment holds no reservation, and its part's key is its own: a dead attempt leaves nothing to undo."""

    def fail(self, error: PrsnlError) -> bool:
        if not super().fail(error):
            return False
        abandon(self.job, self.services, error)
        return True

    def _parent(self) -> Job:
        try:
            parent = jobs.get(self.job.params["parent"])
        except NotFoundError:
            raise JobCancelledError("the capture is gone") from None
        held = parent.status == jobs.WAITING or jobs.joining(parent)
        if parent.attempts != self.job.params["attempt"] or not held:
            raise JobCancelledError(f"the capture is {parent.status}, no longer waiting for its segments")
        return parent

    def _encode(self, part: segments.Part, parent: Job, workdir: Path) -> None:
        """The part's picture as H.264, uploaded; the capture hears of its progress at each throttled write."""
        attempt, prefix = self.job.params["attempt"], layout.temp_prefix(parent.job_id)

        def report(progress: dict) -> None:
            if "percent" in progress:  # the stages around the encode carry none: the share shown stays
                jobs.report_segment(parent.job_id, part.index, progress["percent"], attempt=attempt)

        self.progress = jobs.ProgressReporter(self.job, interval=self.settings.progress_interval_seconds,
                                              on_change=report)
        self.progress("downloading")
        source = self.services.storage.get_file(prefix + part.name, workdir / part.name)
        output = workdir / part.encoded_name
        with self.on_the_cores(), self.stats.timed("transcode"):
            transcode.encode_video(transcode.Encoding(**self.job.params["encoding"]), source, output,
                                   duration=part.duration,
                                   on_progress=lambda f: self.progress("processing", percent=round(100 * f, 1)))
        self.progress("uploading")
        self.upload(output, prefix + part.encoded_name)

    def _join(self, parent: Job) -> None:
        """Take the capture and join it here; a join that fails hands it back to its segments (this one's retry
        joins again; its failure for good fails the capture). What the failed join uploaded stays: the retry's
        join writes the same keys (and the orphan sweep takes what no record names), and a join taken over from a
        worker that only looked dead shares its attempt, so removing them could remove the other join's."""
        now = self.services.clock.now()
        if not jobs.claim_join(parent, now=now, lease_until=now + timedelta(seconds=self.settings.job_lease_seconds)):
            if jobs.joining(parent):  # a join holds it: a live one, or a dead one whose lease is not over yet
                raise TransientJobError("the capture is being joined by another worker; trying again later")
            return  # another delivery of this segment is joining
        join = join_run(parent, self.services)
        with LeaseKeeper(parent, self.services, hold_message=lambda: None):
            try:
                join.run()
            except Exception:
                jobs.wait_again(parent, now=self.services.clock.now())
                raise


def abandon(segment: Job, services: Services, error: PrsnlError) -> None:
    """A segment that failed for good (in its worker, or given up by the reaper) fails its capture, if the capture
    still waits for this fan-out."""
    try:
        parent = jobs.get(segment.params["parent"])
    except NotFoundError:
        return
    if parent.attempts == segment.params["attempt"] and parent.status == jobs.WAITING:
        join_run(parent, services).give_up(error)


class _Join:
    """What the join of any fanned-out job does before its kind's own finish: the parts joined, the sound muxed
    once, the timeline and every cut checked; and, when it fails, every temp object of the fan-out removed."""

    def recover(self) -> None:
        """The attempt that joins is the fan-out's own: nothing of a dead one to give back (its parts are needed)."""

    def execute(self, workdir: Path) -> None:
        self.finish_joined(workdir, *self.joined(workdir))
        self.best_effort(lambda: clear_leftovers(self.job, None, self.services))

    def finish_joined(self, workdir: Path, output: Path, final_info: media_probe.MediaInfo) -> None:
        """The kind's own end: what any capture or rendition does with its verified file."""
        raise NotImplementedError

    def joined(self, workdir: Path) -> tuple[Path, media_probe.MediaInfo]:
        join, prefix, storage = self.job.params["fanout"], layout.temp_prefix(self.job.job_id), self.services.storage
        self.reserved = quotas.held(self.job, self.video)
        parts = [segments.Part.from_params(params) for params in join["parts"]]
        self.progress("joining")
        encoded = [(part, storage.get_file(prefix + part.encoded_name, workdir / part.encoded_name)) for part in parts]
        audio = storage.get_file(prefix + fanout.AUDIO, workdir / fanout.AUDIO) if join["audio"] else None
        source = media_probe.MediaInfo.from_dict(join["source"])
        output = workdir / "output.mp4"
        with self.stats.timed("join"):
            segments.join(encoded, audio, output)
            segments.check_joined(output, parts=parts, audio=segments.Extent(**join["audio"]) if audio else None,
                                  fps=source.video.fps)
            plan = transcode.Plan(source, video="h264", audio="aac" if audio else None, reason="joined segments")
            return output, transcode.verified(plan, media_probe.probe(output))

    def cleanup_outputs(self) -> None:
        super().cleanup_outputs()
        clear_leftovers(self.job, self.video, self.services)  # every part, encoded part and the sound

    def give_up(self, error: PrsnlError) -> None:
        """A segment failed for good: the job fails, its reservation goes back, its temp objects go (again once it
        failed: a segment may count its part between the first removal and the fail, and none can after it)."""
        self.video = videos.find(self.job.video_id)
        self.reserved = quotas.held(self.job, self.video)
        if self.fail(error):
            clear_leftovers(self.job, None, self.services)


class CaptureJoin(_Join, CaptureRun):
    """A capture's last step after its fan-out: stored and committed like any capture."""

    def finish_joined(self, workdir: Path, output: Path, final_info: media_probe.MediaInfo) -> None:
        join = self.job.params["fanout"]
        self.store([self.finish_video(self.video.video_id, join["kind"], output, final_info, join["meta"], workdir)])


class RenditionJoin(_Join, RenditionRun):
    """A rendition's last step after its fan-out: uploaded and committed like any rendition."""

    def finish_joined(self, workdir: Path, output: Path, final_info: media_probe.MediaInfo) -> None:
        self.finish(output, final_info)


def join_run(parent: Job, services: Services) -> _Join:
    return (RenditionJoin if parent.kind == jobs.RENDITION else CaptureJoin)(parent, services)
