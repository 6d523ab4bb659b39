"""The platform canary: one public link per platform captured through the production pipeline for an operator
user, so that a platform that stops working is noticed before a person's capture fails.

A daily schedule ``start``s the captures (the worker runs them like any other); another, an hour later,
``finish``es the run: one ``CanaryFailed`` data point per check (an alarm fires when a check fails two days in a
row), a log line each, and every canary video deleted. ``make smoke-platforms`` runs the same captures into a
local stack (``chalicelib.local.smoke``). The links come from yt-dlp's own extractor tests: long-lived, public.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from chalicelib import capture, deletion
from chalicelib.config import GB
from chalicelib.errors import NotFoundError, PrsnlError
from chalicelib.observability import logger
from chalicelib.ops import metrics
from chalicelib.records import jobs, users, videos
from chalicelib.records.models import OpsRecord

if TYPE_CHECKING:
    from chalicelib.wiring import Services

LINKS = dict(zip(metrics.CANARY_CHECKS, (
    "https://www.youtube.com/watch?v=jNQXAC9IVRw",  # "Me at the zoo"
    "https://www.youtube.com/shorts/BGQWPY4IigY",
    "https://twitter.com/freethenipple/status/643211948184596480",
    "https://www.tiktok.com/@leenabhushan/video/6748451240264420610",
    "https://www.instagram.com/reel/Chunk8-jurw/",
), strict=True))
OWNER = "canary"  # the operator user the canary captures for
QUOTA_BYTES = 2 * GB
RUN = ("canary", "run")  # the ops record that holds the running captures between start and finish


@dataclass(frozen=True)
class Outcome:
    check: str
    ok: bool
    seconds: float | None = None
    code: str | None = None
    message: str | None = None

    def line(self) -> str:
        if self.ok:
            return f"{self.check:<14} ok      {self.seconds:.1f} s"
        return f"{self.check:<14} failed  {self.code}: {self.message}"


def start(services: Services) -> dict[str, dict]:
    """Capture every check's link for the canary user; what was queued, or refused at once, waits for ``finish``."""
    users.create_user(OWNER, name="Platform canary", quota_bytes=QUOTA_BYTES, now=services.clock.now())
    delete_videos(services)  # left by a run that never finished: no capture of this run is a duplicate
    started = {}
    for check, url in LINKS.items():
        try:
            started[check] = {"job_id": capture.capture(url, owner_id=OWNER, services=services,
                                                        source="canary").job.job_id}
        except PrsnlError as error:
            started[check] = {"code": error.code, "message": error.message}
    OpsRecord(*RUN, at=services.clock.now(), data=started).save()
    return started


def finish(services: Services) -> list[Outcome]:
    """Each check's outcome as a metric and a log line; then the canary's videos go. Nothing when no run started."""
    try:
        run = OpsRecord.get(*RUN)
    except OpsRecord.DoesNotExist:
        return []
    outcomes = [_outcome(check, entry) for check, entry in run.data.items()]
    for outcome in outcomes:
        metrics.canary_checked(outcome.check, ok=outcome.ok)
        logger.info("canary check", extra={"check": outcome.check, "ok": outcome.ok, "seconds": outcome.seconds,
                                           "code": outcome.code, "reason": outcome.message})
    delete_videos(services)
    run.delete()
    return outcomes


def _outcome(check: str, entry: dict) -> Outcome:
    if "job_id" not in entry:
        return Outcome(check, False, code=entry["code"], message=entry["message"])
    try:
        job = jobs.get(entry["job_id"])
    except NotFoundError:
        return Outcome(check, False, code="lost", message="the capture's job is gone")
    if job.status == jobs.SUCCEEDED:
        return Outcome(check, True, seconds=round((job.updated_at - job.created_at).total_seconds(), 1))
    if job.status == jobs.FAILED:
        return Outcome(check, False, code=job.error_code, message=job.error_message)
    return Outcome(check, False, code="unfinished", message=f"the capture was still {job.status} when the run ended")


def delete_videos(services: Services) -> int:
    """Every video of the canary user, with its objects and bytes (the canary keeps nothing)."""
    deleted = 0
    while page := videos.list_for_owner(OWNER, limit=100)[0]:
        for video in page:
            try:
                deletion.delete(video.video_id, owner_id=OWNER, services=services)
            except NotFoundError:  # a post's further item, deleted with the page before it was reached
                continue
            deleted += 1
    return deleted
