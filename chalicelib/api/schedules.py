"""Scheduled functions (EventBridge rules made by Chalice): the outbox's delivery every minute, the hourly
maintenance, the daily storage snapshot and the daily platform canary (its captures at 04:00 UTC, their outcome
an hour later).

The local stack's timer calls the same use cases (``chalice local`` runs no schedules).
"""

from chalice import Blueprint, Cron, Rate

from chalicelib import wiring
from chalicelib.events import delivery
from chalicelib.ops import canary, maintenance, metrics, trends

bp = Blueprint(__name__)


@bp.schedule(Rate(1, unit=Rate.MINUTES), description="Events to EventBridge and the webhook, retried with backoff")
def deliver_events(event):
    delivery.deliver_all(wiring.services())


@bp.schedule(Rate(1, unit=Rate.HOURS), description="Orphan sweep, broken records, stuck jobs, quota drift")
def run_maintenance(event):
    maintenance.run(services=wiring.services(), apply=True)


@bp.schedule(Cron(55, 23, "*", "*", "?", "*"), description="The day's storage figures, per user and in total")
def take_storage_snapshot(event):
    totals = trends.snapshot(services=wiring.services())
    metrics.emit(metrics.STORAGE_BYTES, totals["bytes_used"])


@bp.schedule(Cron(0, 4, "*", "*", "?", "*"), description="Platform canary: capture one public link per platform")
def start_platform_canary(event):
    canary.start(services=wiring.services())


@bp.schedule(Cron(0, 5, "*", "*", "?", "*"), description="Platform canary: a metric per platform, then its videos go")
def finish_platform_canary(event):
    canary.finish(services=wiring.services())
