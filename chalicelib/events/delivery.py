"""Delivery of the outbox: each due event to each configured destination, at least once, never from a job.

The worker's job only saves the event with its change (records.events); this step, separate from every job,
claims due events one lease at a time and sends them to EventBridge and to the webhook. A destination that
took an event is not sent it again; one that failed gets it again after a backoff (5 s, 10 s, 20 s ... an
hour), until the attempts run out and the event is given up (logged). A hung receiver holds one delivery for
the webhook timeout, never a job. Locally the worker process runs ``serve``; in AWS a schedule calls
``deliver_due``.
"""

from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass
from datetime import timedelta
from typing import TYPE_CHECKING

from chalicelib.events.bus import EventBridgeBus
from chalicelib.events.webhook import HttpWebhook
from chalicelib.observability import logger
from chalicelib.ops import metrics
from chalicelib.records import events

if TYPE_CHECKING:
    from collections.abc import Callable

    from chalicelib.records.models import Event
    from chalicelib.wiring import Services

BATCH = 25
PASS_SECONDS = 50  # one pass of the every-minute schedule, so that passes seldom overlap (claims make it safe)
BACKOFF_MAX_SECONDS = 3600
EVENTBRIDGE, WEBHOOK = "eventbridge", "webhook"


def backoff_seconds(attempts: int, base: int) -> int:
    """The wait after a failed attempt: base, 2 base, 4 base ... capped at an hour."""
    return min(BACKOFF_MAX_SECONDS, base * 2 ** max(0, attempts - 1))


def lease_seconds(webhook_timeout: float) -> int:
    """How long a claim holds: longer than one attempt can take (both destinations, each within its timeout)."""
    return int(max(30, 3 * webhook_timeout))


def body(event: Event) -> bytes:
    """The exact bytes sent (and signed): the same on every attempt."""
    return json.dumps(events.payload(event), sort_keys=True, separators=(",", ":")).encode()


def destinations(services: Services) -> dict[str, Callable[[Event], None]]:
    """The destinations configured now, by name (an event remembers the names that took it)."""
    settings, clock = services.settings, services.clock
    found: dict[str, Callable[[Event], None]] = {}
    if settings.event_bus:
        bus = EventBridgeBus(settings.event_bus)
        found[EVENTBRIDGE] = lambda event: bus.put(events.payload(event))
    if settings.webhook_url:
        hook = HttpWebhook(settings)
        found[WEBHOOK] = lambda event: hook.send(event.event_id, body(event),
                                                 timestamp=int(clock.now().timestamp()))
    return found


@dataclass
class Report:
    seen: int = 0  # due events read (some may have been claimed by another deliverer)
    delivered: int = 0
    retried: int = 0
    given_up: int = 0

    def add(self, other: Report) -> None:
        for name in ("seen", "delivered", "retried", "given_up"):
            setattr(self, name, getattr(self, name) + getattr(other, name))


def deliver_due(services: Services, *, limit: int = BATCH) -> Report:
    """Send one batch of the events due now; returns what became of them."""
    settings, now = services.settings, services.clock.now()
    targets = destinations(services)
    lease_until = now + timedelta(seconds=lease_seconds(settings.webhook_timeout_seconds))
    report = Report()
    for event in events.due(now, limit=limit):
        report.seen += 1
        if events.claim(event, now=now, lease_until=lease_until):
            outcome = _deliver(event, targets, services)
            setattr(report, outcome, getattr(report, outcome) + 1)
    return report


def deliver_all(services: Services, *, seconds: float = PASS_SECONDS) -> Report:
    """Batches until one is not full (nothing more is due) or ``seconds`` have passed (the next pass goes on)."""
    deadline, total = time.monotonic() + seconds, Report()
    while True:
        report = deliver_due(services)
        total.add(report)
        if report.seen < BATCH or time.monotonic() >= deadline:
            return total


def _deliver(event: Event, targets: dict[str, Callable[[Event], None]], services: Services) -> str:
    errors = []
    for name, send in targets.items():
        if name in (event.delivered or ()):
            continue
        try:
            send(event)
        except Exception as exc:  # any failure of a destination is that destination's, retried later
            errors.append(f"{name}: {getattr(exc, 'message', None) or exc}")
            continue
        events.took(event, name)
    extra = {"event_id": event.event_id, "type": event.type, "attempt": event.attempts}
    if not errors:
        events.finished(event)
        metrics.emit(metrics.EVENTS_DELIVERED, 1, type=event.type)
        return "delivered"
    error = "; ".join(errors)
    if event.attempts >= services.settings.event_max_attempts:
        logger.error("event given up", extra={**extra, "reason": error})
        events.give_up(event, error=error)
        metrics.emit(metrics.EVENTS_GIVEN_UP, 1, type=event.type)
        return "given_up"
    logger.warning("event delivery failed; retried later", extra={**extra, "reason": error})
    wait = backoff_seconds(event.attempts, services.settings.event_backoff_seconds)
    events.retry_at(event, services.clock.now() + timedelta(seconds=wait), error=error)
    return "retried"


def serve(services: Services, *, stop: threading.Event) -> None:
    """The local stand-in for the AWS schedule: deliver what is due, then look again after the poll interval."""
    while not stop.is_set():
        try:
            deliver_all(services)
        except Exception:
            logger.exception("event delivery pass failed")
        stop.wait(services.settings.event_poll_seconds)
