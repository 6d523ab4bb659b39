"""The application's metrics as infra needs them: one spec per metric, with an optional alarm.

Placeholder until chalicelib/observability.py exports the list (``METRICS``) with these same fields; then this
module is deleted and infra imports that list instead.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class AlarmSpec:
    threshold: float
    statistic: str = "Sum"
    period_minutes: int = 5
    evaluation_periods: int = 1


@dataclass(frozen=True)
class MetricSpec:
    name: str
    unit: str  # a CloudWatch unit name: Count, Bytes, Seconds...
    service: str  # Powertools' "service" dimension (POWERTOOLS_SERVICE_NAME of the emitting function)
    alarm: AlarmSpec | None = None


STORAGE_METRIC = "BytesStored"  # its alarm threshold is a deployment choice (context storage_alarm_bytes)

METRICS: tuple[MetricSpec, ...] = (
    MetricSpec("CapturesAccepted", "Count", "prsnl-api"),
    MetricSpec("JobsSucceeded", "Count", "prsnl-worker"),
    MetricSpec("JobsFailed", "Count", "prsnl-worker", alarm=AlarmSpec(threshold=5, period_minutes=60)),
    MetricSpec(STORAGE_METRIC, "Bytes", "prsnl-api"),
)
