"""Storage care, run hourly (EventBridge in AWS, a timer in the local stack) and by ``prsnl-video maintenance``.

One run: take back jobs whose worker died or whose queue message was lost, fail videos left waiting
for a job that ended, delete objects no record points to, mark records whose objects are gone
``broken``, clear temp leftovers, and recompute each user's counters from the records. Everything
pages through the bucket and the tables a page at a time, and a dry run changes nothing. A capture
in flight is never touched: objects younger than the grace period, videos still queued or
processing for a job that has not ended, and users with such videos are left alone.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from chalicelib.errors import PermanentJobError
from chalicelib.observability import logger
from chalicelib.ops.leftovers import clear_leftovers
from chalicelib.records import jobs, quotas, videos
from chalicelib.records.models import Job, User, Video
from chalicelib.storage import layout

if TYPE_CHECKING:
    from chalicelib.wiring import Services

PAGE = 100  # objects or records handled at once (BatchGetItem takes 100 keys)
HEAD_THREADS = 8  # existence checks in parallel: one HEAD per stored object is the slow part
SAMPLE = 20  # examples kept per finding: the report stays small whatever the bucket holds
_KEY_ATTRIBUTES = ["video_id", "status", "file_key", "thumbnails", "object_sizes", "renditions"]  # a list, for PynamoDB
_COUNT_ATTRIBUTES = [*_KEY_ATTRIBUTES, "bytes_reserved", "bytes_stored"]
_WAIT_ATTRIBUTES = ["video_id", "status", "job_id", "renditions", "updated_at"]


@dataclass
class Finding:
    """How many things of one kind were found and fixed, their bytes, and a few examples."""

    found: int = 0
    fixed: int = 0
    bytes: int = 0
    examples: list = field(default_factory=list)

    def add(self, example, nbytes: int = 0) -> None:
        self.found += 1
        self.bytes += nbytes
        if len(self.examples) < SAMPLE:
            self.examples.append(example)


@dataclass
class Report:
    applied: bool
    orphan_objects: Finding = field(default_factory=Finding)
    broken_videos: Finding = field(default_factory=Finding)
    stuck_jobs_requeued: Finding = field(default_factory=Finding)
    stuck_jobs_failed: Finding = field(default_factory=Finding)
    lost_jobs_resent: Finding = field(default_factory=Finding)
    lost_jobs_failed: Finding = field(default_factory=Finding)
    stranded_videos: Finding = field(default_factory=Finding)
    temp_leftovers: Finding = field(default_factory=Finding)
    stale_uploads: Finding = field(default_factory=Finding)
    quota_drift: Finding = field(default_factory=Finding)
    users_skipped_busy: int = 0

    def findings(self) -> dict[str, Finding]:
        return {name: value for name, value in vars(self).items() if isinstance(value, Finding)}

    def to_dict(self) -> dict:
        return asdict(self)

    def lines(self) -> list[str]:
        """The report as people read it (the CLI prints this)."""
        head = "maintenance: changes applied" if self.applied else "maintenance: dry run, nothing changed"
        lines = [head]
        for name, finding in self.findings().items():
            lines.append(f"  {name.replace('_', ' '):<22} found {finding.found:>6}  fixed {finding.fixed:>6}"
                         f"  bytes {finding.bytes:>12}")
            lines += [f"      {example}" for example in finding.examples]
        if self.users_skipped_busy:
            lines.append(f"  users with a capture in flight, counters not checked: {self.users_skipped_busy}")
        return lines


def run(*, services: Services, apply: bool) -> Report:
    """One maintenance pass; ``apply=False`` only reports what it would do."""
    sweep = _Sweep(services, apply)
    sweep.reap_stuck_jobs()
    sweep.reap_lost_jobs()
    sweep.fail_stranded()
    sweep.delete_orphans()
    sweep.mark_broken()
    sweep.clear_temp()
    sweep.abort_stale_uploads()
    sweep.reconcile_counters()
    logger.info("maintenance finished", extra={"report": sweep.report.to_dict()})
    return sweep.report


def take_back_running(*, services: Services) -> Report:
    """When no worker can be running (the local worker starts, or the stack after a stop or crash): every running
    job is taken back at once, its lease notwithstanding, and queued again while it has attempts left, and a video
    left waiting for a job that ended fails as it did. Then each user's counters are set to what the records hold:
    with no worker, no bytes are moving, so a reservation that a crash (or a save of the tables) caught between its
    two writes is given back here."""
    sweep = _Sweep(services, apply=True)
    for job in Job.by_status.query(jobs.RUNNING):
        retry = job.attempts < services.settings.max_attempts
        finding = sweep.report.stuck_jobs_requeued if retry else sweep.report.stuck_jobs_failed
        finding.add(f"job {job.job_id} (video {job.video_id}, attempt {job.attempts})")
        if sweep._reap(job, retry, lease_known_dead=True):
            finding.fixed += 1
    sweep.fail_stranded(idle=True)
    sweep.reconcile_counters(idle=True)
    return sweep.report


def resend_queued(*, services: Services) -> Report:
    """After the queue lost its messages (the local stack's moto starts empty): each queued job's message again."""
    sweep = _Sweep(services, apply=True)
    for job in Job.by_status.query(jobs.QUEUED):
        sweep.report.lost_jobs_resent.add(f"job {job.job_id} (video {job.video_id})")
        sweep._send(job)
        sweep.report.lost_jobs_resent.fixed += 1
    return sweep.report


def _ended_before(cutoff: datetime, video: Video, job: Job | None) -> bool:
    """The job finished (or is gone) before ``cutoff``: its own last writes are over."""
    if job is None:
        return video.updated_at < cutoff
    return job.status in jobs.FINISHED and job.updated_at < cutoff


def _held_by_waiting_jobs() -> dict[str, int]:
    """The bytes each owner's waiting jobs hold (a fanned-out rendition's reservation is on its job)."""
    held: dict[str, int] = {}
    for job in Job.by_status.query(jobs.WAITING):
        held[job.owner_id] = held.get(job.owner_id, 0) + (job.bytes_reserved or 0)
    return held


def batched(items: Iterable, size: int) -> Iterator[list]:
    """Consecutive lists of ``size`` items (the last one shorter): one page in memory at a time."""
    iterator = iter(items)
    while page := list(itertools.islice(iterator, size)):
        yield page


class _Sweep:
    def __init__(self, services: Services, apply: bool):
        self.services = services
        self.storage = services.storage
        self.apply = apply
        self.now = services.clock.now()
        self.cutoff = self.now - timedelta(seconds=services.settings.orphan_grace_seconds)
        self.report = Report(applied=apply)

    # jobs whose worker died: queued again once, failed the second time

    def reap_stuck_jobs(self) -> None:
        stuck = Job.by_status.query(jobs.RUNNING, filter_condition=Job.lease_until < self.now)
        self._reap_each(stuck, jobs.LEASE_EXPIRED, self.report.stuck_jobs_requeued, self.report.stuck_jobs_failed,
                        reap=self._reap)

    def _reap_each(self, found: Iterable[Job], code: str, again: Finding, given_up: Finding, *, reap) -> None:
        """Each job tried once more, or given up when ``code`` says it already was or no attempt is left."""
        for job in found:
            retry = job.error_code != code and job.attempts < self.services.settings.max_attempts
            finding = again if retry else given_up
            finding.add(f"job {job.job_id} (video {job.video_id}, attempt {job.attempts}, "
                        f"{job.status} since {job.updated_at:%Y-%m-%d %H:%M:%S})")
            if self.apply and reap(job, retry):
                finding.fixed += 1

    def _reap(self, job: Job, requeue: bool, *, lease_known_dead: bool = False) -> bool:
        message = ("its worker stopped before finishing; queued again" if requeue
                   else "its worker stopped before finishing, again; given up")
        found = Job.from_raw_data(job.serialize())
        video = videos.find(job.video_id)
        if not jobs.reap(job, now=self.now, requeue=requeue, message=message, lease_known_dead=lease_known_dead):
            return False
        self._take_back(job, video, failed=not requeue, code=jobs.LEASE_EXPIRED, message=message)
        if requeue:
            try:
                self._send(job)
            except Exception:  # no message, so nothing would ever run it: running with its lease over again
                jobs.put_back(found, changed_at=self.now)
                raise
        return True

    def _take_back(self, job: Job, video: Video | None, *, failed: bool, code: str, message: str) -> None:
        """What a job taken back held: its reservation, its work files and uploads; its video fails with it, and the
        chat that asked for it is told, as a worker's own failure tells it."""
        quotas.give_back_held(job, video, now=self.now)
        if video is not None and failed and videos.fail_for_job(video, job, now=self.now, code=code, message=message):
            self._tell_failed(job, PermanentJobError(message, code=code))
        clear_leftovers(job, video, self.services)
        if failed and job.kind == jobs.SEGMENT:  # its capture can never be joined: it fails, and gives back
            from chalicelib.pipeline import segment_run  # worker side (media), here only on this rare path

            segment_run.abandon(job, self.services, PermanentJobError(f"a segment: {message}", code=code))

    def _tell_failed(self, job: Job, error: PermanentJobError) -> None:
        try:
            self.services.notifier.failed(job, error)
        except Exception:  # the chat is a courtesy: the job and its video are failed whatever it answers
            logger.exception("the chat could not be told of a job given up", extra={"job_id": job.job_id})

    def _send(self, job: Job) -> None:
        self.services.queue.send(jobs.JobMessage(job.job_id, job.video_id, job.owner_id, kind=job.kind))

    # jobs queued so long their message must be lost (its deliveries used up before any claim, so it went to
    # the DLQ): sent again once, failed the second time or when no attempt is left

    def reap_lost_jobs(self) -> None:
        queued_before = self.now - timedelta(seconds=self.services.settings.stale_queued_seconds)
        lost = Job.by_status.query(jobs.QUEUED, Job.updated_at < queued_before)
        self._reap_each(lost, jobs.MESSAGE_LOST, self.report.lost_jobs_resent, self.report.lost_jobs_failed,
                        reap=self._reap_lost)

    def _reap_lost(self, job: Job, resend: bool) -> bool:
        if resend:  # the message first (a second delivery's claim finds the job taken), then the note it was sent
            self._send(job)
            jobs.reap_queued(job, now=self.now, resend=True, message="its queue message was lost; sent again")
            return True
        message = "its queue message was lost, again or after its last attempt; given up"
        video = videos.find(job.video_id)
        if not jobs.reap_queued(job, now=self.now, resend=False, message=message):
            return False
        self._take_back(job, video, failed=True, code=jobs.MESSAGE_LOST, message=message)
        return True

    # videos left waiting for a job that ended: its worker (or a maintenance run) stopped between the job's write and
    # the video's. They would show progress for ever and keep their owner's counters from every check.

    def fail_stranded(self, *, idle: bool = False) -> None:
        """``idle``: no worker runs, so a job that ended has made its last write: its video need not wait out the
        grace period."""
        cutoff = self.now if idle else self.cutoff
        maybe_waiting = Video.scan(filter_condition=Video.status.is_in(*videos.IN_FLIGHT) | Video.renditions.exists(),
                                   page_size=PAGE, attributes_to_get=_WAIT_ATTRIBUTES)
        for page in batched(maybe_waiting, PAGE):
            waits = [(video, job_id, quality) for video in page for job_id, quality in videos.waiting_for(video)]
            ids = {job_id for _, job_id, _ in waits}
            found = {job.job_id: job for job in Job.batch_get(ids)} if ids else {}
            for video, job_id, quality in waits:
                if _ended_before(cutoff, video, found.get(job_id)):
                    self._strand(video.video_id, found.get(job_id), job_id, quality)

    def _strand(self, video_id: str, job: Job | None, job_id: str, quality: str | None) -> None:
        part = f"rendition {quality}" if quality else "capture"
        self.report.stranded_videos.add(f"video {video_id} ({part}; job {job_id} {job.status if job else 'gone'})")
        if not self.apply or (video := videos.find(video_id)) is None:  # the whole record (its event's fields)
            return
        if job is not None and quality is None and job.video_id != video.video_id:
            videos.remove(video)  # a short link's duplicate: its job ended on the video the owner already had
            self.report.stranded_videos.fixed += 1
            return
        code, message = jobs.LEASE_EXPIRED, "its job ended before it was stored; please try again"
        if job is not None and job.status == jobs.FAILED and job.error_code:
            code, message = job.error_code, job.error_message or message
        if videos.fail_waiting(video, job_id, quality, now=self.now, code=code, message=message):
            self.report.stranded_videos.fixed += 1
            if job is not None and quality is None:
                self._tell_failed(job, PermanentJobError(message, code=code))

    # objects no record points to

    def delete_orphans(self) -> None:
        for prefix in layout.MEDIA_PREFIXES:
            for page in batched(self.storage.list(prefix, page_size=PAGE), PAGE):
                orphans = self._orphans(page)
                for obj in orphans:
                    self.report.orphan_objects.add(obj["Key"], obj["Size"])
                if self.apply and orphans:
                    self.storage.delete([obj["Key"] for obj in orphans])
                    self.report.orphan_objects.fixed += len(orphans)

    def _orphans(self, page: list[dict]) -> list[dict]:
        old = [obj for obj in page if obj["LastModified"] < self.cutoff]
        ids = {layout.video_id_of(obj["Key"]) for obj in old} - {None}
        records = {v.video_id: v for v in Video.batch_get(ids, attributes_to_get=_KEY_ATTRIBUTES)} if ids else {}
        return [obj for obj in old if not self._wanted(obj["Key"], records.get(layout.video_id_of(obj["Key"])))]

    @staticmethod
    def _wanted(key: str, video: Video | None) -> bool:
        if video is None:
            return False
        return videos.in_flight(video) or key in videos.stored_keys(video)

    # records whose objects are gone

    def mark_broken(self) -> None:
        ready = Video.scan(filter_condition=Video.status == videos.READY, page_size=PAGE,
                           attributes_to_get=_KEY_ATTRIBUTES)
        with ThreadPoolExecutor(HEAD_THREADS) as pool:
            for page in batched(ready, PAGE):
                keys = sorted({key for video in page for key in videos.stored_keys(video)})
                gone = {key for key, missing in zip(keys, pool.map(self._missing, keys), strict=True) if missing}
                for video in page:
                    self._check_objects(video, sorted(videos.stored_keys(video) & gone))

    def _missing(self, key: str) -> bool:
        """A flag, not the HEAD response: a page of whole responses was most of the sweep's memory."""
        return self.storage.head(key) is None

    def _check_objects(self, video: Video, missing: list[str]) -> None:
        if not missing:
            return
        self.report.broken_videos.add(f"video {video.video_id}: missing {', '.join(missing)}")
        if self.apply and videos.mark_broken(video, missing, now=self.now):
            self.report.broken_videos.fixed += 1

    # multipart uploads begun and never finished (a worker killed mid-upload): billed until aborted

    def abort_stale_uploads(self) -> None:
        for upload in [upload for upload in self.storage.uploads() if upload["Initiated"] < self.cutoff]:
            self.report.stale_uploads.add(upload["Key"])
            if self.apply:
                self.storage.abort_upload(upload)
                self.report.stale_uploads.fixed += 1

    # work files left under temp/processing/ (lifecycle expires them in AWS; moto has no lifecycle)

    def clear_temp(self) -> None:
        delete_here = self.services.settings.stage == "local"
        for page in batched(self.storage.list(layout.TEMP_PREFIX, page_size=PAGE), PAGE):
            old = [obj for obj in page if obj["LastModified"] < self.cutoff]
            for obj in old:
                self.report.temp_leftovers.add(obj["Key"], obj["Size"])
            if self.apply and delete_here and old:
                self.storage.delete([obj["Key"] for obj in old])
                self.report.temp_leftovers.fixed += len(old)

    # each user's counters against their records

    def reconcile_counters(self, *, idle: bool = False) -> None:
        """``idle``: no worker runs, so a user with work in flight is checked too (a waiting rendition's bytes are
        held on its job)."""
        held_by_jobs = _held_by_waiting_jobs() if idle else {}
        for user in User.scan(page_size=PAGE):
            actual = _recount(user.user_id, idle=idle)
            if actual is None:
                self.report.users_skipped_busy += 1
                continue
            used, reserved, count = actual
            reserved += held_by_jobs.get(user.user_id, 0)
            expected = {"bytes_used": used, "bytes_reserved": reserved, "video_count": count,
                        "bytes_available": user.quota_bytes - used - reserved}
            counters = {name: getattr(user, name) or 0 for name in expected}
            if counters == expected:
                continue
            self.report.quota_drift.add(f"user {user.user_id}: counters {counters}, records {expected}",
                                        abs(counters["bytes_used"] - used))
            if self.apply and quotas.correct_counters(user, found=counters, expected=expected):
                self.report.quota_drift.fixed += 1


def _recount(owner_id: str, *, idle: bool) -> tuple[int, int, int] | None:
    """(bytes used, bytes reserved on videos, videos) from the owner's records; None while a capture is in flight
    (unless ``idle``)."""
    used = reserved = count = 0
    for video in Video.by_owner.query(owner_id, page_size=PAGE, attributes_to_get=_COUNT_ATTRIBUTES):
        if videos.in_flight(video) and not idle:
            return None
        reserved += video.bytes_reserved or 0
        if video.status in videos.COUNTED:
            used += videos.stored_bytes(video)
            count += 1
    return used, reserved, count
