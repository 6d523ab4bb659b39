"""Logs, traces and metrics: the Powertools logger, the lazy tracer, and THE list of metrics.

``METRICS`` is plain data: the code emits from it and infra/ builds alarms and the dashboard from
it. Every data point is written at once as one CloudWatch embedded-metric-format (EMF) line on
stdout with two dimension sets: (service, stage), which alarms and the dashboard read, and
(service, stage, + the spec's dimensions), the per-platform / per-code / per-kind breakdown.
Writing at once means a crashed or timed-out invocation loses nothing; locally the lines are in
the logs. Nothing here does I/O at import.
"""

from __future__ import annotations

import functools
import os
import re
import time
from contextlib import contextmanager
from dataclasses import dataclass, field

from aws_lambda_powertools import Logger
from aws_lambda_powertools.logging.formatter import LambdaPowertoolsFormatter
from aws_lambda_powertools.metrics.provider.cloudwatch_emf.cloudwatch import AmazonCloudWatchEMFProvider

from chalicelib.config import get_settings

NAMESPACE = "PRSNL/Video"
API, WORKER = "prsnl-api", "prsnl-worker"  # POWERTOOLS_SERVICE_NAME of the two functions

# -- secrets never reach a log line -------------------------------------------------------------------------

REDACTED = "[REDACTED]"
_SECRET_KEYS = ("authorization", "cookie", "cookies", "set-cookie", "x-telegram-bot-api-secret-token",
                "x-api-key", "api_key", "token", "secret", "password")
SECRET_PATTERNS: tuple[tuple[re.Pattern, str], ...] = (
    (re.compile(r"(?i)\b(bearer)\s+(?!\[REDACTED)[A-Za-z0-9._~+/=-]{8,}"), rf"\1 {REDACTED}"),
    (re.compile(r"\bprsnl_[A-Za-z0-9_-]{16,}"), f"prsnl_{REDACTED}"),  # our API keys
    (re.compile(r"\b(bot)?(\d{3,}):[A-Za-z0-9_-]{20,}"), rf"\1\2:{REDACTED}"),  # Telegram bot tokens, in URLs too
    (re.compile(r'(?i)("(?:' + "|".join(map(re.escape, _SECRET_KEYS)) + r')"\s*:\s*)"(?!\[REDACTED\])(?:[^"\\]|\\.)+"'),
     rf'\1"{REDACTED}"'),
    (re.compile(r"(?i)\b((?:set-)?cookie\s*[:=]\s*)(?!\[REDACTED)[^\s\"\\][^\"\\\r\n]*"), rf"\1{REDACTED}"),
)


def redact(text: str) -> str:
    """Mask API keys, Bearer tokens, bot tokens, cookies and secret-named JSON fields."""
    for pattern, replacement in SECRET_PATTERNS:
        text = pattern.sub(replacement, text)
    return text


def find_secrets(text: str) -> list[str]:
    """What ``redact`` would mask (the tests assert this is empty over every captured log line)."""
    return [match.group(0) for pattern, _ in SECRET_PATTERNS for match in pattern.finditer(text)]


class RedactingFormatter(LambdaPowertoolsFormatter):
    """Powertools' JSON, redacted as the last step: covers messages, extra keys, appended keys and tracebacks."""

    def serialize(self, log) -> str:
        return redact(super().serialize(log))


logger = Logger(logger_formatter=RedactingFormatter())


def correlate_request(event, get_response):
    """Chalice HTTP middleware: one correlation id per request (API Gateway's request id, else Lambda's),
    in every log line of the request, on the capture's queue message, and in the X-Correlation-Id header."""
    correlation_id = event.context.get("requestId") or getattr(event.lambda_context, "aws_request_id", None)
    logger.set_correlation_id(correlation_id)
    response = get_response(event)
    if correlation_id:
        response.headers["X-Correlation-Id"] = correlation_id
    return response


# -- traces ---------------------------------------------------------------------------------------------------


@functools.cache
def tracer():
    """The X-Ray tracer; building it imports the X-Ray SDK (~0.5 s here) and patches botocore, so every
    AWS call of the function (boto3 and PynamoDB) becomes a subsegment."""
    from aws_lambda_powertools import Tracer

    return Tracer()


def traced(handler):
    """Trace a Lambda handler when ``PRSNL_TRACING`` is on; otherwise the tracer is never even imported,
    which keeps it out of the API's cold start. Works as a decorator and through ``ConvertToMiddleware``."""

    @functools.wraps(handler)
    def wrapper(event, context):
        if not get_settings().tracing:
            return handler(event, context)
        return tracer().capture_lambda_handler(handler, capture_response=False)(event, context)

    return wrapper


# -- metrics --------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class AlarmSpec:
    threshold: float
    comparison: str = "GreaterThanOrEqualToThreshold"  # a CloudWatch ComparisonOperator
    statistic: str = "Sum"
    period_minutes: int = 5
    evaluation_periods: int = 1


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
DLQ_ARRIVALS = MetricSpec("DlqArrivals", "Count", WORKER, ("code",),
                          "Jobs that failed on their last attempt (their message goes to the DLQ)",
                          AlarmSpec(threshold=1))
TELEGRAM_UPDATES_HANDLED = MetricSpec("TelegramUpdatesHandled", "Count", API, ("kind",),
                                      "Bot updates handled, by command kind")
TELEGRAM_UPDATES_REFUSED = MetricSpec("TelegramUpdatesRefused", "Count", API, ("code",),
                                      "Bot updates refused (bad secret, unknown user...)",
                                      AlarmSpec(threshold=10, period_minutes=15))
STORAGE_BYTES = MetricSpec("StorageBytes", "Bytes", API, (),
                           "Total bytes held, from the storage snapshot (its alarm threshold is a deployment choice)")
STORAGE_METRIC = STORAGE_BYTES.name

METRICS: tuple[MetricSpec, ...] = (
    CAPTURES_REQUESTED, DOWNLOADS_SUCCEEDED, DOWNLOADS_FAILED, DOWNLOAD_SECONDS, DOWNLOAD_BYTES, QUEUE_WAIT_SECONDS,
    PROCESSING_SECONDS, BYTES_STORED, JOBS_RETRIED, DLQ_ARRIVALS, TELEGRAM_UPDATES_HANDLED, TELEGRAM_UPDATES_REFUSED,
    STORAGE_BYTES,
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
    also counts as a download, by platform, and goes into the hourly rollup (see opsmetrics)."""
    from chalicelib.ops import rollups

    for step in PROCESSING_KINDS:
        if step in stats.seconds:
            emit(PROCESSING_SECONDS, stats.seconds[step], kind=step)
    if kind != "capture":
        return
    platform = _platform(video)
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
            emit(DLQ_ARRIVALS, 1, code=code)
    rollups.record_outcome(platform, code=code, download_seconds=stats.seconds.get("download"),
                              processing_seconds=stats.processing_seconds)


def job_retried(video, code: str) -> None:
    from chalicelib.ops import rollups

    emit(JOBS_RETRIED, 1, code=code)
    rollups.record_retry(_platform(video))


def _platform(video) -> str:
    """The video is None when the job failed before its record was read."""
    return video.platform if video is not None else "unknown"
