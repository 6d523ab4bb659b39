"""Metrics: THE list of metrics, its EMF output, and the domain events that emit them.

``METRICS`` is plain data: the code emits from it and infra/ builds alarms and the dashboard from
it. Every data point is written at once as one CloudWatch embedded-metric-format (EMF) line on
stdout with two dimension sets: (service, stage), which alarms and the dashboard read, and
(service, stage, + the spec's dimensions), the per-platform / per-code / per-kind breakdown.
Writing at once means a crashed or timed-out invocation loses nothing; locally the lines are in
the logs. The hourly rollups the admin metrics read are written by the pipeline (``ops.rollups``).
"""

from __future__ import annotations

import os
import time
from contextlib import contextmanager
from dataclasses import dataclass, field

from aws_lambda_powertools.metrics.provider.cloudwatch_emf.cloudwatch import AmazonCloudWatchEMFProvider

from chalicelib.config import get_settings
from chalicelib.observability import logger

NAMESPACE = "PRSNL/Video"
API, WORKER = "prsnl-api", "prsnl-worker"  # POWERTOOLS_SERVICE_NAME of the two functions


# -- metrics --------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class AlarmSpec:
    threshold: float
    comparison: str = "GreaterThanOrEqualToThreshold"  # a CloudWatch ComparisonOperator
    statistic: str = "Sum"
    period_minutes: int = 5
    evaluation_periods: int = 1
    # (dimension, its values): one alarm per value instead of one on the total (the canary: one per check)
    each: tuple[str, tuple[str, ...]] | None = None


@dataclass(frozen=True)
class MetricSpec:
    name: str
    unit: str  # a CloudWatch unit: Count, Seconds, Bytes
    service: str  # the function that emits it (its POWERTOOLS_SERVICE_NAME)
    dimensions: tuple[str, ...]  # the breakdown, besides (service, stage) which every data point carries
    description: str
    alarm: AlarmSpec | None = None


CAPTURES_REQUESTED = MetricSpec("CapturesRequested", "Count", API, ("platform", "source", "outcome"),
                                "Links saved through the API or the bot (outcome: queued, existing)")
DOWNLOADS_SUCCEEDED = MetricSpec("DownloadsSucceeded", "Count", WORKER, ("platform",),
                                 "Captures that ended with a ready video")
DOWNLOADS_FAILED = MetricSpec("DownloadsFailed", "Count", WORKER, ("platform", "code"),
                              "Captures that failed for good, by error code",
                              AlarmSpec(threshold=5, period_minutes=60))
DOWNLOAD_SECONDS = MetricSpec("DownloadSeconds", "Seconds", WORKER, ("platform",), "Time spent downloading")
DOWNLOAD_BYTES = MetricSpec("DownloadBytes", "Bytes", WORKER, ("platform",), "Bytes downloaded")
QUEUE_WAIT_SECONDS = MetricSpec("QueueWaitSeconds", "Seconds", WORKER, (),
                                "From the job's enqueue to the worker receiving it (retries included)",
                                AlarmSpec(threshold=900, statistic="Maximum", evaluation_periods=3))
PROCESSING_SECONDS = MetricSpec("ProcessingSeconds", "Seconds", WORKER, ("kind",),
                                "Time spent processing, by kind: remux, transcode, thumbnails")
BYTES_STORED = MetricSpec("BytesStored", "Bytes", WORKER, ("platform",),
                          "Bytes a finished capture added to the bucket (the storage growth)")
JOBS_RETRIED = MetricSpec("JobsRetried", "Count", WORKER, ("code",), "Transient failures given back for a retry")
RETRIES_EXHAUSTED = MetricSpec("RetriesExhausted", "Count", WORKER, ("code",),
                               "Jobs failed on their last attempt: a transient failure outlasted every retry "
                               "(a handled message: it is not sent to the DLQ, whose depth has its own alarm)")
TELEGRAM_UPDATES_HANDLED = MetricSpec("TelegramUpdatesHandled", "Count", API, ("kind",),
                                      "Bot updates handled, by command kind")
TELEGRAM_UPDATES_REFUSED = MetricSpec("TelegramUpdatesRefused", "Count", API, ("code",),
                                      "Bot updates refused (bad secret, unknown user...)",
                                      AlarmSpec(threshold=10, period_minutes=15))
STORAGE_BYTES = MetricSpec("StorageBytes", "Bytes", API, (),
                           "Total bytes held, from the storage snapshot (its alarm threshold is a deployment choice)")
STORAGE_METRIC = STORAGE_BYTES.name
# The platform canary's checks (ops.canary has their links); its alarm fires when one fails two days in a row.
CANARY_CHECKS = ("youtube", "youtube-short", "x", "tiktok", "instagram")
CANARY_FAILED = MetricSpec("CanaryFailed", "Count", API, ("check",),
                           "The daily platform canary's capture failed (1) or succeeded (0), per check",
                           AlarmSpec(threshold=1, period_minutes=24 * 60, evaluation_periods=2,
                                     each=("check", CANARY_CHECKS)))

# The outbox's delivery runs in the DeliverEvents schedule of the Chalice app (the API's service name).
EVENTS_DELIVERED = MetricSpec("EventsDelivered", "Count", API, ("type",),
                              "Events every configured destination took (EventBridge, the webhook)")
EVENTS_GIVEN_UP = MetricSpec("EventsGivenUp", "Count", API, ("type",),
                             "Events a destination still refused after PRSNL_EVENT_MAX_ATTEMPTS attempts",
                             AlarmSpec(threshold=1, period_minutes=60))

METRICS: tuple[MetricSpec, ...] = (
    CAPTURES_REQUESTED, DOWNLOADS_SUCCEEDED, DOWNLOADS_FAILED, DOWNLOAD_SECONDS, DOWNLOAD_BYTES, QUEUE_WAIT_SECONDS,
    PROCESSING_SECONDS, BYTES_STORED, JOBS_RETRIED, RETRIES_EXHAUSTED, TELEGRAM_UPDATES_HANDLED,
    TELEGRAM_UPDATES_REFUSED, STORAGE_BYTES, CANARY_FAILED, EVENTS_DELIVERED, EVENTS_GIVEN_UP,
)
PROCESSING_KINDS = ("remux", "transcode", "thumbnails")


def emit(spec: MetricSpec, value: float, **dimensions: str) -> None:
    """Write one data point now, as one EMF line (see the module docstring for its dimension sets)."""
    if set(dimensions) != set(spec.dimensions):
        raise ValueError(f"{spec.name} takes the dimensions {spec.dimensions}, not {tuple(dimensions)}")
    service = os.environ.get("POWERTOOLS_SERVICE_NAME") or spec.service
    point = AmazonCloudWatchEMFProvider(namespace=NAMESPACE, service=service,
                                        default_dimensions={"service": service, "stage": get_settings().stage})
    point.add_metric(name=spec.name, unit=spec.unit, value=value)
    if dimensions:
        point.add_dimensions(**{name: str(v) or "none" for name, v in dimensions.items()})
    point.flush_metrics()


def capture_requested(platform: str, *, source: str, created: bool) -> None:
    outcome = "queued" if created else "existing"
    logger.info("capture requested", extra={"platform": platform, "source": source, "outcome": outcome})
    emit(CAPTURES_REQUESTED, 1, platform=platform, source=source, outcome=outcome)


def telegram_update(*, handled: bool, kind: str) -> None:
    """``kind`` is the command (capture, list, help...) when handled, the refusal's code otherwise."""
    if handled:
        emit(TELEGRAM_UPDATES_HANDLED, 1, kind=kind)
    else:
        emit(TELEGRAM_UPDATES_REFUSED, 1, code=kind)


def job_received(enqueued_at: float) -> None:
    emit(QUEUE_WAIT_SECONDS, max(0.0, time.time() - enqueued_at))


@dataclass
class JobStats:
    """What one attempt measured: seconds by step (download, remux|transcode, thumbnails) and bytes."""

    seconds: dict[str, float] = field(default_factory=dict)
    download_bytes: int = 0

    @contextmanager
    def timed(self, step: str):
        started = time.perf_counter()
        yield
        self.seconds[step] = self.seconds.get(step, 0.0) + time.perf_counter() - started

    @property
    def processing_seconds(self) -> float | None:
        spent = [self.seconds[kind] for kind in PROCESSING_KINDS if kind in self.seconds]
        return sum(spent) if spent else None


def job_finished(kind: str, video, stats: JobStats, *, code: str | None = None, last_attempt: bool = False) -> None:
    """A job ended for good (``code`` None: it succeeded). Any job's processing time counts; a capture
    also counts as a download, by platform."""
    for step in PROCESSING_KINDS:
        if step in stats.seconds:
            emit(PROCESSING_SECONDS, stats.seconds[step], kind=step)
    if kind != "capture":
        return
    platform = platform_of(video)
    logger.info("capture finished", extra={"platform": platform, "outcome": "failed" if code else "succeeded",
                                           "code": code, "seconds": stats.seconds, "bytes": stats.download_bytes})
    if code is None:
        emit(DOWNLOADS_SUCCEEDED, 1, platform=platform)
        emit(BYTES_STORED, video.bytes_stored, platform=platform)
        if "download" in stats.seconds:
            emit(DOWNLOAD_SECONDS, stats.seconds["download"], platform=platform)
            emit(DOWNLOAD_BYTES, stats.download_bytes, platform=platform)
    else:
        emit(DOWNLOADS_FAILED, 1, platform=platform, code=code)
        if last_attempt:
            emit(RETRIES_EXHAUSTED, 1, code=code)


def canary_checked(check: str, *, ok: bool) -> None:
    emit(CANARY_FAILED, 0 if ok else 1, check=check)


def job_retried(code: str) -> None:
    emit(JOBS_RETRIED, 1, code=code)


def platform_of(video) -> str:
    """The video is None when the job failed before its record was read."""
    return video.platform if video is not None else "unknown"
