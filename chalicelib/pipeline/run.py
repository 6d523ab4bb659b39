"""What every job's attempt shares: its state, uploads, the commit, the cleanup, the failure and the give-back.

A kind of job (``capture_run``, ``rendition_run``) fills in ``execute``; the attempt remembers what it
reserved and uploaded so that a failure before the commit undoes exactly that, once.
"""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING

from chalicelib.errors import JobCancelledError, NotFoundError, PrsnlError, QuotaExceededError
from chalicelib.observability import logger
from chalicelib.ops import metrics
from chalicelib.ops.leftovers import clear_leftovers
from chalicelib.records import jobs, quotas, videos
from chalicelib.records.models import Job, Video, failed_items, transact

if TYPE_CHECKING:
    from chalicelib.wiring import Services


class TakenBackError(Exception):
    """The job stopped being this attempt's while it ran (the reaper took it back after its lease ended)."""


class Run:
    """One attempt at one job."""

    def __init__(self, job: Job, services: Services):
        self.job = job
        self.services = services
        self.settings = services.settings
        self.progress = jobs.ProgressReporter(job, interval=self.settings.progress_interval_seconds,
                                              on_change=lambda progress: services.notifier.progress(job, progress))
        self.uploaded: list[str] = []
        self.reserved = 0
        self.video: Video | None = None
        self.stats = metrics.JobStats()
        self.waiting = False  # the job was handed to segment jobs (``fanout``): it neither succeeded nor failed yet
        self._turn: int | None = None  # on the cores (``slots``), taken at the first busy step

    def run(self) -> None:
        try:
            self.video = videos.get(self.job.video_id)
        except NotFoundError:
            raise JobCancelledError("the video was deleted") from None
        if self.job.attempts > 1:
            self.recover()
        workdir = Path(tempfile.mkdtemp(prefix=f"prsnl-{self.job.job_id}-", dir=self.settings.work_dir))
        try:
            self.execute(workdir)
        finally:
            shutil.rmtree(workdir, ignore_errors=True)

    def execute(self, workdir: Path) -> None:
        raise NotImplementedError

    def recover(self) -> None:
        """An earlier attempt may have died mid-way (killed, out of memory, past its timeout): what it held goes
        back before this one takes anything, so the counters equal the bytes stored without a maintenance run."""
        if quotas.give_back_held(self.job, self.video, now=self.services.clock.now()):
            logger.info("a dead attempt's reservation was given back", extra={"job_id": self.job.job_id})
        clear_leftovers(self.job, self.video, self.services)

    def on_the_cores(self):
        """A slot for a busy step (probe, encode, thumbnails), before every job whose first busy step came later."""
        if self._turn is None:
            self._turn = self.services.slots.cpu.turn()
        return self.services.slots.cpu.held(self._turn)

    def upload(self, path: Path, key: str) -> int:
        self.uploaded.append(key)
        with self.services.slots.io:
            return self.services.storage.put_file(path, key)

    def commit(self, video_update: tuple, *, saves: tuple = (), actual: int, videos: int,
               usage: quotas.Usage) -> None:
        """The one commit point: the video's stored state, the job's success and the quota's settle are written
        together or not at all, so a failure after it can neither remove a stored file nor count it twice."""
        updates = (video_update, jobs.succeed_update(self.job, now=self.services.clock.now()),
                   quotas.settle_update(self.video.owner_id, reserved=self.reserved, actual=actual, videos=videos,
                                        usage=usage))
        _all_or_nothing(updates, saves=saves, errors=(
            JobCancelledError("the video was deleted while it was processed"),
            TakenBackError(),
            QuotaExceededError(f"the stored video takes {actual} bytes, more than the quota has left")))
        self.uploaded, self.reserved = [], 0  # the video's own now: nothing undoes them

    def end_without_storing(self, job_update: tuple, *, deletes: tuple) -> None:
        """The job succeeds with nothing of its own to store: its success and ``deletes`` in one write, held to this
        attempt as the commit is."""
        _all_or_nothing((job_update,), deletes=deletes, errors=(TakenBackError(),))

    def best_effort(self, step) -> None:
        """A step after the commit: the job succeeded whatever happens here, so a failure is only logged."""
        try:
            step()
        except Exception:
            logger.exception("a step after the commit failed", extra={"job_id": self.job.job_id})

    def fail(self, error: PrsnlError) -> bool:
        """The job fails for good, with its video; False when it was no longer this attempt's (taken back after its
        lease: the next attempt's to end, and its video with it)."""
        logger.warning("job failed", extra={"job_id": self.job.job_id, "code": error.code, "reason": error.message})
        self.cleanup_outputs()
        now = self.services.clock.now()
        if not jobs.fail(self.job, now=now, error_code=error.code, message=error.message):
            return False
        if self.video is not None:
            videos.fail_for_job(self.video, self.job, now=now, code=error.code, message=error.message)
        self.services.notifier.failed(self.job, error)
        return True

    def release_for_retry(self, error: PrsnlError) -> None:
        logger.warning("job will be retried", extra={"job_id": self.job.job_id, "attempt": self.job.attempts,
                                                      "code": error.code, "reason": error.message})
        self.cleanup_outputs()
        jobs.release_for_retry(self.job, now=self.services.clock.now(), error_code=error.code, message=error.message)

    def cleanup_outputs(self) -> None:
        """Remove what this attempt uploaded and give back what it reserved, once; nothing when they are no longer
        its own to undo."""
        if (self.uploaded or self.reserved) and not self._owns_outputs():
            self.uploaded, self.reserved = [], 0
        self.remove_uploads()
        if self.reserved:
            quotas.give_back_held(self.job, self.video, now=self.services.clock.now())
            self.reserved = 0

    def _owns_outputs(self) -> bool:
        """Every attempt of a video uploads to the same keys and reserves on the same record, so what this one did is
        its own only while the job is still its own, or is gone with its video (deleted). Once the job moved on (the
        reaper took it back and gave its reservation back; a retry replaced it), the keys are another attempt's."""
        found = jobs.find(self.job.job_id)
        return jobs.still_this_attempts(found, self.job) if found else videos.find(self.job.video_id) is None

    def remove_uploads(self) -> None:
        if self.uploaded:
            self.services.storage.delete(self.uploaded)
            self.uploaded = []


def _all_or_nothing(updates: tuple, *, errors: tuple, saves: tuple = (), deletes: tuple = ()) -> None:
    """Write ``updates`` (and ``saves``, ``deletes``) in one transaction; when conditions fail, raise the error given
    for the first update whose condition did not hold."""
    try:
        transact(saves=saves, deletes=deletes, updates=updates)
    except Exception as exc:
        failed = failed_items(exc)[len(saves) + len(deletes):]
        error = next((error for error, did in zip(errors, failed, strict=False) if did), None)
        if error is None:
            raise
        raise error from None
