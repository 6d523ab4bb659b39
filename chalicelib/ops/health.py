"""Health: a cheap check anyone may call, a deep one for admins, and the worker's heartbeat it reads.

The deep check reads only what answers in milliseconds: each table, the bucket, both queues'
depth, the oldest queued job (one item from the jobs-by-status index: the same as the age of the
oldest message, and it works on moto, where SQS age metrics do not exist) and the heartbeat the
worker writes on every invocation, with the ffmpeg and yt-dlp versions it runs and what its yt-dlp reaches
the platforms with (JavaScript runtime, impersonation targets). Warnings (a yt-dlp older than
``PRSNL_YTDLP_MAX_AGE_DAYS``, no JS runtime, no impersonation) do not make the report unhealthy.
"""

from __future__ import annotations

import functools
import threading
import time
from datetime import date, datetime
from typing import TYPE_CHECKING

from chalicelib.observability import logger
from chalicelib.queue import SqsJobQueue

if TYPE_CHECKING:
    from chalicelib.wiring import Services
from chalicelib.records import jobs
from chalicelib.records.models import ALL_MODELS, Job, OpsRecord, User

HEARTBEAT = ("heartbeat", "worker")
# work waiting longer than this while the worker has not run since it was queued means the worker is down
WORKER_STALE_SECONDS = 600


class Unhealthy(Exception):
    """A part answers, but what it says is wrong; ``details`` still go into the report."""

    def __init__(self, message: str, **details):
        super().__init__(message)
        self.details = details


def _timed(check) -> dict:
    started = time.perf_counter()
    try:
        details = check() or {}
    except Unhealthy as exc:
        return {"ok": False, "error": str(exc), **exc.details}
    except Exception as exc:  # a health check reports every failure; the type only, never internals
        return {"ok": False, "error": type(exc).__name__}
    return {"ok": True, "ms": round(1000 * (time.perf_counter() - started), 1), **details}


def _report(parts: dict, stage: str) -> dict:
    failing = [name for name, part in parts.items() if not part["ok"]]
    return {"healthy": not failing, "failing": failing, "stage": stage, "checks": parts}


def check(services: Services) -> dict:
    """Cheap: do S3, DynamoDB and SQS answer at all."""
    parts = {
        "s3": _timed(services.storage.ping),
        "dynamodb": _timed(lambda: _tables((User,))),
        "sqs": _timed(services.queue.depth),
    }
    return _report(parts, services.settings.stage)


def deep_check(services: Services) -> dict:
    """Every table, the bucket, both queues, the backlog's age and the worker's heartbeat."""
    now = services.clock.now()
    dead_letters = SqsJobQueue(services.settings.jobs_dlq)
    parts = {
        "s3": _timed(services.storage.ping),
        "dynamodb": _timed(lambda: _tables(ALL_MODELS)),
        "sqs": _timed(services.queue.depth),
        "dlq": _timed(dead_letters.depth),
        "backlog": _timed(lambda: {"oldest_queued_seconds": _oldest_queued_seconds(now)}),
    }
    parts["worker"] = _timed(lambda: _worker(now, parts["backlog"].get("oldest_queued_seconds"),
                                             max_age_days=services.settings.ytdlp_max_age_days))
    report = _report(parts, services.settings.stage)
    report["warnings"] = parts["worker"].get("warnings", [])
    return report


def _tables(models) -> dict:
    for model in models:
        try:
            model.describe_table()
        except Exception as exc:
            raise Unhealthy(f"table {model.Meta.table_name}: {type(exc).__name__}") from exc
    return {"tables": len(models)}


def _oldest_queued_seconds(now: datetime) -> float | None:
    oldest = next(iter(Job.by_status.query(jobs.QUEUED, scan_index_forward=True, limit=1)), None)
    return None if oldest is None else round((now - oldest.updated_at).total_seconds(), 1)


def _worker(now: datetime, oldest_queued: float | None, *, max_age_days: int) -> dict:
    try:
        beat = OpsRecord.get(*HEARTBEAT)
    except OpsRecord.DoesNotExist:
        beat = None
    seen = None if beat is None else round((now - beat.at).total_seconds(), 1)
    access = beat and beat.data.get("platform_access")
    details = {"last_seen": beat and beat.at.isoformat(), "seen_seconds_ago": seen,
               "versions": beat and beat.data.get("versions"), "platform_access": access,
               "warnings": platform_warnings(access, now, max_age_days=max_age_days) if access else []}
    if oldest_queued is not None and oldest_queued > WORKER_STALE_SECONDS and (seen is None or seen > oldest_queued):
        raise Unhealthy(f"a job has waited {oldest_queued:.0f} s and the worker has not run since", **details)
    return details


def platform_warnings(access: dict, now: datetime, *, max_age_days: int) -> list[str]:
    """What will make captures fail that an operator can fix: an old yt-dlp (the platforms change every few weeks),
    no JavaScript runtime (YouTube formats go missing), no impersonation (TikTok and Instagram refuse us)."""
    warnings = []
    released = _release_date(access.get("yt_dlp") or "")
    if released is not None and (now.date() - released).days > max_age_days:
        warnings.append(f"yt-dlp {access['yt_dlp']} is {(now.date() - released).days} days old (over {max_age_days}): "
                        "run `make update-yt-dlp` and deploy the worker")
    if not access.get("js_runtimes"):
        warnings.append("no JavaScript runtime for yt-dlp: YouTube formats will go missing (install deno)")
    if not access.get("impersonate_targets"):
        warnings.append("no browser impersonation: TikTok and Instagram will mostly refuse us (install curl_cffi)")
    return warnings


def _release_date(version: str) -> date | None:
    """yt-dlp versions are release dates (2026.10.26, or 2026.10.26.123456 for a nightly)."""
    try:
        return date(*(int(part) for part in version.split(".")[:3]))
    except (TypeError, ValueError):
        return None


def beat(services: Services) -> None:
    """The worker's heartbeat: it ran now, with these tools. Best effort: a failure here would fail the whole
    batch before any job is claimed, using up deliveries until the message reaches the DLQ with its job queued."""
    try:
        with _FIRST_BEAT:  # batches that start together wait for the first one's tools, not each find them
            data = {"versions": _tool_versions(), "platform_access": _platform_access()}
        OpsRecord(*HEARTBEAT, at=services.clock.now(), data=data).save()
    except Exception:
        logger.exception("worker heartbeat not written")


_FIRST_BEAT = threading.Lock()


@functools.cache
def _platform_access() -> dict:
    from chalicelib.media.download import platform_access

    return platform_access()


@functools.cache
def _tool_versions() -> dict:
    from chalicelib.media.tools import tool_versions

    return tool_versions()
