"""Scheduled functions (EventBridge rules made by Chalice): the hourly maintenance and the daily storage snapshot.

The local stack's timer calls the same use cases (``chalice local`` runs no schedules).
"""

from chalice import Blueprint, Cron, Rate

from chalicelib import wiring
from chalicelib.ops import maintenance, metrics, trends

bp = Blueprint(__name__)


@bp.schedule(Rate(1, unit=Rate.HOURS), description="Orphan sweep, broken records, stuck jobs, quota drift")
def run_maintenance(event):
    maintenance.run(services=wiring.services(), apply=True)


@bp.schedule(Cron(55, 23, "*", "*", "?", "*"), description="The day's storage figures, per user and in total")
def take_storage_snapshot(event):
    totals = trends.snapshot(services=wiring.services())
    metrics.emit(metrics.STORAGE_BYTES, totals["bytes_used"])
