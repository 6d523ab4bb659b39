"""Jobs: the SQS message schema, the job states and their conditional transitions.

A job moves only by conditional writes, so a message delivered twice cannot run twice: the
claim ``queued -> running`` (or the reclaim of an expired lease) is the idempotency record.
"""

from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta

from pynamodb.expressions.condition import size

from chalicelib.errors import JobCancelledError
from chalicelib.records.models import Job, applied, fetch, to_json_dict

QUEUED, RUNNING, SUCCEEDED, FAILED, CANCELLED = "queued", "running", "succeeded", "failed", "cancelled"
WAITING = "waiting"  # a fanned-out capture: no worker holds it; the segment that finishes last joins its parts
FINISHED = (SUCCEEDED, FAILED, CANCELLED)
CAPTURE, RENDITION = "capture", "transcode"  # job kinds: a link or file to store, a smaller copy of a stored video
SEGMENT = "segment"  # one part of a fanned-out capture's transcode
LEASE_EXPIRED = "lease_expired"  # error code of a job the maintenance took back from a dead worker
MESSAGE_LOST = "message_lost"  # error code of a job queued so long that its message must be lost
JOB_TTL = timedelta(days=30)


@dataclass(frozen=True)
class JobMessage:
    """The body of a jobs-queue message: ids only; the records hold the rest."""

    job_id: str
    video_id: str
    owner_id: str
    kind: str = CAPTURE
    correlation_id: str | None = None
    enqueued_at: float = field(default_factory=time.time)

    def to_json(self) -> str:
        return json.dumps(asdict(self))

    @classmethod
    def from_json(cls, body: str) -> JobMessage:
        data = json.loads(body)
        return cls(**{k: data[k] for k in cls.__dataclass_fields__ if k in data})


def new_job(job_id: str, *, video_id: str, owner_id: str, kind: str, now: datetime, params: dict | None = None) -> Job:
    return Job(
        job_id,
        video_id=video_id,
        owner_id=owner_id,
        kind=kind,
        status=QUEUED,
        params=params,
        progress={"stage": QUEUED, "percent": 0},
        created_at=now,
        updated_at=now,
        expires_at=JOB_TTL,
    )


def get(job_id: str) -> Job:
    return fetch(Job, job_id)


def find(job_id: str) -> Job | None:
    """The job as it is now (a consistent read), or None."""
    try:
        return Job.get(job_id, consistent_read=True)
    except Job.DoesNotExist:
        return None


def still_this_attempts(found: Job, attempt: Job) -> bool:
    """The job (``found`` as it is now) is still the one ``attempt`` ran: running or waiting under it, or cancelled
    with it. Not once it moved on: taken back (queued again, run by a later attempt, failed by the reaper)."""
    return found.attempts == attempt.attempts and found.status in (RUNNING, WAITING, CANCELLED)


def get_for_owner(job_id: str, owner_id: str) -> Job:
    return fetch(Job, job_id, owner_id=owner_id)


def to_dict(job: Job) -> dict:
    """The job as the API shows it; a fanned-out capture's ``segments`` (how many, how many done) and, while they
    run, its progress as the sum over them."""
    data = to_json_dict(job, hide=("expires_at", "lease_until", "segments_done", "segment_percent"))
    if job.segments:
        data["segments_done"] = len(job.segments_done or ())
        if job.status == WAITING:
            data["progress"] = {"stage": "processing", "percent": segments_percent(job)}
    return data


def segments_percent(job: Job) -> float:
    """How far a fanned-out transcode is: each segment counts for its share."""
    percents = job.segment_percent.as_dict() if job.segment_percent else {}
    return round(sum(min(100.0, float(value)) for value in percents.values()) / job.segments, 1)


def claim(job: Job, *, now: datetime, lease_until: datetime) -> bool:
    """Take the job for this worker; False when another delivery holds or finished it. A job running under a lease
    that is over is taken back from its dead worker (``reclaimed``)."""
    condition = (Job.status == QUEUED) | ((Job.status == RUNNING) & (Job.lease_until < now))
    return applied(lambda: job.update(
        actions=[
            Job.status.set(RUNNING),
            Job.attempts.add(1),
            Job.lease_until.set(lease_until),
            Job.updated_at.set(now),
            Job.progress.set({"stage": "starting", "percent": 0}),
        ],
        condition=condition,
    ))


def renew_lease(job: Job, *, until: datetime) -> bool:
    """The attempt is alive: its lease runs to ``until``. False when the job is no longer this attempt's (finished,
    or taken back after the lease ended). Written on a record of its own: it runs beside the attempt's writes."""
    return applied(lambda: Job(job.job_id).update(actions=[Job.lease_until.set(until)], condition=_held(job)))


def hold_reservation(job: Job, nbytes: int) -> bool:
    """A rendition's reservation, noted on its job so that whoever ends the job gives it back (once); False when the
    job is no longer this attempt's (deleted with its video, or taken back)."""
    return applied(lambda: job.update(actions=[Job.bytes_reserved.set(nbytes)], condition=_held(job)))


def _held(job: Job):
    """The running job is still this attempt's. Every write of an attempt holds to it: one that succeeded after a
    later attempt's claim would also read that attempt's number back into ``job`` (PynamoDB answers with the item)."""
    return (Job.status == RUNNING) & (Job.attempts == job.attempts)


def reservation_cleared(job: Job, nbytes: int) -> tuple:
    """The job's reservation taken off, as a transaction item: it holds only while exactly these bytes are on it."""
    return Job(job.job_id), [Job.bytes_reserved.set(0)], Job.bytes_reserved == nbytes


def create_all(records: list[Job]) -> None:
    """Save the new jobs of a fan-out (one batch; each record is new, so nothing else writes it yet)."""
    with Job.batch_write() as batch:
        for record in records:
            batch.save(record)


def fan_out(job: Job, *, segments: int, join: dict, now: datetime) -> bool:
    """The running capture hands its transcode to ``segments`` segment jobs and waits, with what its join needs
    (``join``) in its params. No worker holds it then, so it has no lease. False when it is no longer this
    attempt's (taken back after its lease ended)."""
    return applied(lambda: job.update(
        actions=[Job.status.set(WAITING), Job.updated_at.set(now), Job.lease_until.remove(),
                 Job.params.set({**(job.params or {}), "fanout": join}), Job.segments.set(segments),
                 Job.segments_done.remove(), Job.segment_percent.set({}),
                 Job.progress.set({"stage": "processing", "percent": 0})],
        condition=_held(job)))


def _waiting(attempt: int):
    """The capture still waits for the segments of its fan-out ``attempt``."""
    return (Job.status == WAITING) & (Job.attempts == attempt) & Job.job_id.exists()


def segment_finished(parent_id: str, index: int, *, attempt: int) -> int | None:
    """Count a segment done on its capture (an atomic ADD to a set: a second delivery counts once); how many are
    done now, or None when the capture no longer waits for this fan-out (failed, cancelled, deleted)."""
    parent = Job(parent_id)
    if not applied(lambda: parent.update(
            actions=[Job.segments_done.add({index}), Job.segment_percent[str(index)].set(100)],
            condition=_waiting(attempt))):
        return None
    return len(parent.segments_done or ())


def report_segment(parent_id: str, index: int, percent: float, *, attempt: int) -> None:
    """A running segment's percent, on its capture, when it is past the one shown (a retry encodes from 0 again: the
    capture's progress does not go back). Best effort: a capture that stopped waiting ignores it."""
    share = Job.segment_percent[str(index)]
    applied(lambda: Job(parent_id).update(actions=[share.set(percent)],
                                          condition=_waiting(attempt) & (share.does_not_exist() | (share < percent))))


def claim_join(parent: Job, *, now: datetime, lease_until: datetime) -> bool:
    """The segment that finished last takes its waiting capture to join the parts: one taker only (a conditional
    write), under a lease like any running job; or takes it again from a join whose lease is over (its worker died).
    The attempt stays the fan-out's."""
    lapsed = _held(parent) & (Job.lease_until < now) & (size(Job.segments_done) == parent.segments)
    return applied(lambda: parent.update(
        actions=[Job.status.set(RUNNING), Job.lease_until.set(lease_until), Job.updated_at.set(now),
                 Job.progress.set({"stage": "joining", "percent": 100})],
        condition=_waiting(parent.attempts) | lapsed))


def joining(parent: Job) -> bool:
    """The capture is being joined: running with every segment of its fan-out counted. Callers also check that it
    is the fan-out's attempt: a capture claimed again keeps the earlier fan-out's count until it fans out anew."""
    return parent.status == RUNNING and len(parent.segments_done or ()) == parent.segments


def wait_again(parent: Job, *, now: datetime) -> bool:
    """A join that failed hands the capture back to its segments: the retry of the last one joins again."""
    return applied(lambda: _finish(parent, WAITING, now=now, expect=RUNNING, by_its_attempt=True,
                                    progress={"stage": "processing"}))


def release_for_retry(job: Job, *, now: datetime, error_code: str, message: str) -> None:
    """Give this attempt's job back to the queue after a transient failure (the next delivery may claim it), unless
    it is no longer this attempt's."""
    applied(lambda: _finish(job, QUEUED, now=now, error_code=error_code, message=message, expect=RUNNING,
                            by_its_attempt=True))


def succeed(job: Job, *, now: datetime) -> None:
    job.update(*succeed_update(job, now=now)[1:])


def succeed_update(job: Job, *, now: datetime) -> tuple:
    """The running job's move to succeeded as a (record, actions, condition) item of the worker's commit transaction;
    an earlier attempt's error goes with it."""
    record, actions, condition = _transition(job, SUCCEEDED, now=now, expect=RUNNING, by_its_attempt=True,
                                             progress={"stage": "ready", "percent": 100})
    return record, [*actions, Job.error_code.remove(), Job.error_message.remove(), Job.bytes_reserved.set(0)], \
        condition


def fail(job: Job, *, now: datetime, error_code: str, message: str) -> bool:
    """End the job as failed while the attempt that ran it holds it (running, or waiting for its segments); False
    when it had finished or moved on to another attempt."""
    return applied(lambda: _finish(job, FAILED, now=now, error_code=error_code, message=message,
                                    progress={"stage": FAILED}, by_its_attempt=True))


def cancel(job: Job, *, now: datetime, by_its_attempt: bool = False) -> bool:
    """Stop a job that has not finished; False when it already had. ``by_its_attempt``: only while the attempt that
    ran it holds it (running, or waiting for its segments): one taken back, its job queued again, leaves it to the
    next."""
    return applied(lambda: _finish(job, CANCELLED, now=now, progress={"stage": CANCELLED},
                                    by_its_attempt=by_its_attempt))


def reap(job: Job, *, now: datetime, requeue: bool, message: str, lease_known_dead: bool = False) -> bool:
    """Take back a job whose worker died (lease over, or ``lease_known_dead``: no worker can be running): queued
    again or failed; False when it moved on meanwhile."""
    status, lease_over_at = (QUEUED if requeue else FAILED), (None if lease_known_dead else now)
    return applied(lambda: _finish(job, status, now=now, expect=RUNNING, lease_over_at=lease_over_at,
                                    error_code=LEASE_EXPIRED, message=message, progress={"stage": status}))


def reap_queued(job: Job, *, now: datetime, resend: bool, message: str) -> bool:
    """Take back a job queued so long its message must be lost: noted as sent again, or failed; False when it
    moved on meanwhile (a delivery claimed it)."""
    status = QUEUED if resend else FAILED
    return applied(lambda: _finish(job, status, now=now, expect=QUEUED, unchanged_since=job.updated_at,
                                    error_code=MESSAGE_LOST, message=message, progress={"stage": status}))


def put_back(found: Job, *, changed_at: datetime) -> None:
    """Undo a change made at ``changed_at`` whose follow-up failed: the record as ``found`` before it, unless
    something moved it since."""
    applied(lambda: found.save(condition=Job.updated_at == changed_at))


def create(job: Job) -> None:
    """Save a new job on its own (a capture's job is saved in one transaction with its video instead)."""
    job.save(condition=Job.job_id.does_not_exist())


def discard(job: Job) -> None:
    """Remove a job nothing will run: its video was deleted, or its rendition was asked for twice."""
    job.delete()


def superseded(job_id: str) -> Job:
    """A failed capture's job that a retry replaces, as a transaction delete: the video then names the new one, and
    nothing else refers to it."""
    return Job(job_id)


def ended_on_update(job: Job, video_id: str, *, now: datetime) -> tuple:
    """The running job succeeds on another video (a short link led to one the owner already has), as an item of
    the worker's write that also removes the duplicate record."""
    record, actions, condition = succeed_update(job, now=now)
    return record, [*actions, Job.video_id.set(video_id)], condition


def _finish(job: Job, status: str, **change) -> None:
    job.update(*_transition(job, status, **change)[1:])


def _transition(job: Job, status: str, *, now: datetime, expect: str | None = None, error_code: str | None = None,
                message: str | None = None, progress: dict | None = None, by_its_attempt: bool = False,
                lease_over_at: datetime | None = None, unchanged_since: datetime | None = None) -> tuple:
    actions = [Job.status.set(status), Job.updated_at.set(now), Job.lease_until.remove()]
    if error_code:
        actions += [Job.error_code.set(error_code), Job.error_message.set(message)]
    if progress:
        actions.append(Job.progress.set(progress))
    unfinished = (RUNNING, WAITING) if by_its_attempt else (QUEUED, RUNNING, WAITING)  # no attempt holds a queued job
    condition = (Job.status == expect) if expect else Job.status.is_in(*unfinished)
    if by_its_attempt:
        condition &= Job.attempts == job.attempts
    if lease_over_at:
        condition &= Job.lease_until < lease_over_at
    if unchanged_since:
        condition &= Job.updated_at == unchanged_since
    return job, actions, condition


class ProgressReporter:
    """Writes download/processing progress to the job at most once per interval (and always at stage changes)."""

    def __init__(self, job: Job, *, interval: float, clock=time.monotonic, on_change=None):
        self._job = job
        self._on_change = on_change  # told each progress written (the Telegram reply follows it)
        self._interval = interval
        self._clock = clock
        self._last_write = float("-inf")
        self._last_stage = None

    def __call__(self, stage: str, **figures) -> None:
        now = self._clock()
        if stage == self._last_stage and now - self._last_write < self._interval:
            return
        self._last_write, self._last_stage = now, stage
        progress = {"stage": stage, **{k: v for k, v in figures.items() if v is not None}}
        if not applied(lambda: self._job.update(actions=[Job.progress.set(progress)], condition=_held(self._job))):
            raise JobCancelledError(f"job {self._job.job_id} is no longer running")
        if self._on_change:
            self._on_change(progress)
