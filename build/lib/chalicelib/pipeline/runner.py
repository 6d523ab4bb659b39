"""The worker's use case: run one job end to end, or fail it with a reason and leave nothing behind.

The job's kind picks its run (``capture_run``, ``rendition_run``) once. Permanent errors fail the job
at once; anything else is raised so that SQS redelivers it with backoff, until the last attempt marks
it failed. The commit is one transaction (the video's stored state, the job's success, the quota's
settle): before it a failure undoes the attempt's uploads and reservation; after it nothing can, and
the chat message is best effort.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import TYPE_CHECKING

from chalicelib.errors import JobCancelledError, NotFoundError, PrsnlError, TransientJobError
from chalicelib.observability import logger
from chalicelib.ops import metrics, rollups
from chalicelib.pipeline import rules
from chalicelib.pipeline.capture_run import CaptureRun
from chalicelib.pipeline.rendition_run import RenditionRun
from chalicelib.pipeline.run import Run, TakenBackError
from chalicelib.records import jobs

if TYPE_CHECKING:
    from chalicelib.wiring import Services

RUNS: dict[str, type[Run]] = {jobs.CAPTURE: CaptureRun, jobs.RENDITION: RenditionRun}


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
    work = RUNS[job.kind](job, services)
    try:
        work.run()
    except JobCancelledError:
        work.cleanup_outputs()
        jobs.cancel(job, now=services.clock.now())
        return Outcome(True, jobs.CANCELLED)
    except TakenBackError:  # the job is the reaper's now (queued again or failed): leave it as the reaper left it
        work.cleanup_outputs()
        return Outcome(False, "taken_back")
    except Exception as exc:
        error = exc if isinstance(exc, PrsnlError) else _unexpected(exc)
        decision = rules.after_failure(error, attempts=job.attempts, max_attempts=services.settings.max_attempts)
        if decision is rules.AfterFailure.RETRY:
            work.release_for_retry(error)
            metrics.job_retried(error.code)
            rollups.record_retry(services, metrics.platform_of(work.video))
        else:
            work.fail(error)
            _finished(work, services, code=error.code, last_attempt=decision is rules.AfterFailure.FAIL_LAST)
            if decision is rules.AfterFailure.FAIL:
                return Outcome(True, jobs.FAILED)
        raise  # SQS redelivers it after the worker's backoff, or moves it to the DLQ after the last attempt
    _finished(work, services)
    return Outcome(True, jobs.SUCCEEDED)


def _finished(work: Run, services: Services, *, code: str | None = None, last_attempt: bool = False) -> None:
    """A job ended for good: its metrics, and a capture's outcome in the hourly rollup."""
    metrics.job_finished(work.job.kind, work.video, work.stats, code=code, last_attempt=last_attempt)
    if work.job.kind == jobs.CAPTURE:
        rollups.record_outcome(services, metrics.platform_of(work.video), code=code,
                               download_seconds=work.stats.seconds.get("download"),
                               processing_seconds=work.stats.processing_seconds)


def _unexpected(exc: Exception) -> TransientJobError:
    """Network, AWS throttling, a crashed tool: worth another try. The details go to the log, not the user."""
    logger.exception("unexpected failure", extra={"error_type": type(exc).__name__})
    return TransientJobError(f"a temporary failure ({type(exc).__name__})")
