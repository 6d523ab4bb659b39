"""The worker's use case: run one job end to end, or fail it with a reason and leave nothing behind.

The job's kind picks its run (``capture_run``, ``rendition_run``, ``segment_run``) once. Permanent errors fail
the job at once; transient ones are raised so that SQS redelivers the message with backoff, until the last attempt
fails the job. A job that ends failed is a handled message, deleted like a success: the DLQ keeps only
messages nothing could handle, so its alarm means something.

While a job runs, its lease is renewed and its message kept hidden (``lease``); a worker that dies stops
renewing, and the redelivery after its lease claims the job and first gives back what the dead attempt
held. The commit is one transaction (the video's stored state, the job's success, the quota's settle):
before it a failure undoes the attempt's uploads and reservation; after it nothing can, and the chat
message is best effort.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from chalicelib.errors import JobCancelledError, NotFoundError, PrsnlError
from chalicelib.observability import logger
from chalicelib.ops import metrics, rollups
from chalicelib.pipeline import rules
from chalicelib.pipeline.capture_run import CaptureRun
from chalicelib.pipeline.lease import LeaseKeeper
from chalicelib.pipeline.rendition_run import RenditionRun
from chalicelib.pipeline.run import Run, TakenBackError
from chalicelib.pipeline.segment_run import SegmentRun
from chalicelib.records import jobs

if TYPE_CHECKING:
    from chalicelib.wiring import Services

RUNS: dict[str, type[Run]] = {jobs.CAPTURE: CaptureRun, jobs.RENDITION: RenditionRun, jobs.SEGMENT: SegmentRun}


@dataclass(frozen=True)
class Outcome:
    """What happened to one delivery: ``ran`` is False for a duplicate or a job already finished."""

    ran: bool
    status: str


def process_job(message: jobs.JobMessage, *, services: Services, received_at: datetime,
                hold_message: Callable[[], None] = lambda: None) -> Outcome:
    """Run the job of one delivery; ``hold_message`` keeps the delivery's message hidden a while longer."""
    try:
        job = jobs.get(message.job_id)
    except NotFoundError:
        logger.warning("job record missing; message dropped", extra={"job_id": message.job_id})
        return Outcome(False, "missing")
    lease_until = received_at + timedelta(seconds=services.settings.job_lease_seconds)
    if not jobs.claim(job, now=services.clock.now(), lease_until=lease_until):
        logger.info("job already claimed or finished", extra={"job_id": job.job_id, "status": job.status})
        return Outcome(False, job.status)
    work = RUNS[job.kind](job, services)
    with LeaseKeeper(job, services, hold_message=hold_message):
        return _run(work, services, reference=message.correlation_id or job.job_id)


def _run(work: Run, services: Services, *, reference: str) -> Outcome:
    job = work.job
    try:
        work.run()
    except JobCancelledError:  # its video deleted, or the job no longer this attempt's (taken back, queued again)
        work.cleanup_outputs()
        jobs.cancel(job, now=services.clock.now(), by_its_attempt=True)
        return Outcome(True, jobs.CANCELLED)
    except TakenBackError:  # the job is the reaper's now (queued again or failed): leave it as the reaper left it
        work.cleanup_outputs()
        return Outcome(False, "taken_back")
    except Exception as exc:
        error = exc if isinstance(exc, PrsnlError) else _unexpected(exc, reference)
        decision = rules.after_failure(error, attempts=job.attempts, max_attempts=services.settings.max_attempts)
        if decision is rules.AfterFailure.RETRY:
            work.release_for_retry(error)
            metrics.job_retried(error.code)
            rollups.record_retry(services, metrics.platform_of(work.video))
            raise  # SQS redelivers it after the worker's backoff
        if not work.fail(error):
            return Outcome(False, "taken_back")
        _finished(work, services, code=error.code, last_attempt=decision is rules.AfterFailure.FAIL_LAST)
        return Outcome(True, jobs.FAILED)
    if work.waiting:  # handed to its segment jobs: the last of them finishes it
        return Outcome(True, jobs.WAITING)
    _finished(work, services)
    return Outcome(True, jobs.SUCCEEDED)


def _finished(work: Run, services: Services, *, code: str | None = None, last_attempt: bool = False) -> None:
    """A job ended for good: its metrics, and a capture's outcome in the hourly rollup."""
    metrics.job_finished(work.job.kind, work.video, work.stats, code=code, last_attempt=last_attempt)
    if work.job.kind == jobs.CAPTURE:
        rollups.record_outcome(services, metrics.platform_of(work.video), code=code,
                               download_seconds=work.stats.seconds.get("download"),
                               processing_seconds=work.stats.processing_seconds)


def _unexpected(exc: Exception, reference: str) -> PrsnlError:
    """The details go to the log (with the reference), not to the owner."""
    logger.exception("unexpected failure", extra={"error_type": type(exc).__name__, "reference": reference})
    return rules.unexpected(reference)
