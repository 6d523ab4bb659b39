"""Storage trends: each day's storage figures per user and for everyone, kept as a series.

``snapshot`` runs daily (schedule, local timer, CLI) and reads only the users' counters (one small
record each, which the maintenance keeps true to the records); running it twice a day rewrites
that day's figures. ``series`` reads the days that have a snapshot; ``daily`` is what
``GET /api/storage/stats?days=N`` shows next to the current figures: every day, a missing one with null figures.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

from chalicelib.errors import BadRequestError
from chalicelib.records.models import StorageSnapshot, User

if TYPE_CHECKING:
    from chalicelib.wiring import Services

EVERYONE = "*"
MAX_DAYS = 366
DEFAULT_DAYS = 30
FIGURES = ("bytes_used", "bytes_reserved", "quota_bytes", "video_count")


def snapshot(*, services: Services) -> dict:
    """Write today's figures of every user and the totals; returns the totals."""
    now = services.clock.now()
    day = now.date().isoformat()
    totals = dict.fromkeys(FIGURES, 0)
    users = 0
    with StorageSnapshot.batch_write() as batch:
        for user in User.scan(page_size=100, attributes_to_get=["user_id", *FIGURES]):
            figures = {name: getattr(user, name) or 0 for name in FIGURES}
            batch.save(StorageSnapshot(user.user_id, day, taken_at=now, **figures))
            totals = {name: totals[name] + figures[name] for name in FIGURES}
            users += 1
        batch.save(StorageSnapshot(EVERYONE, day, taken_at=now, users=users, **totals))
    return {"day": day, "users": users, **totals}


def series(owner_id: str, days: int | str | None = DEFAULT_DAYS, *, now: datetime | None = None) -> list[dict]:
    """The last ``days`` daily figures of one user (or of everyone: ``EVERYONE``), oldest first.

    ``days`` may be the raw query parameter: anything but a whole number from 1 to MAX_DAYS is a 400.
    """
    days = _days(days)
    first = ((now or datetime.now(UTC)) - timedelta(days=days - 1)).date().isoformat()
    return [_row(item) for item in StorageSnapshot.query(owner_id, StorageSnapshot.day >= first)]


def daily(owner_id: str, days: int | str | None, *, now: datetime) -> list[dict]:
    """Every one of the last ``days`` days, oldest first: a day without a snapshot (the schedule did not run) is
    there with null figures, so a chart shows the gap instead of joining its neighbours."""
    found = {row["day"]: row for row in series(owner_id, days, now=now)}
    last = now.date()
    calendar = [(last - timedelta(days=back)).isoformat() for back in reversed(range(_days(days)))]
    return [found.get(day) or {"day": day, **dict.fromkeys(FIGURES)} for day in calendar]


def _days(value: int | str | None) -> int:
    try:
        days = DEFAULT_DAYS if value in (None, "") else int(value)
    except ValueError:
        days = 0
    if not 1 <= days <= MAX_DAYS:
        raise BadRequestError(f"days must be a whole number from 1 to {MAX_DAYS}", code="invalid_days")
    return days


def _row(item: StorageSnapshot) -> dict:
    row = {"day": item.day, **{name: getattr(item, name) for name in FIGURES}}
    if item.users is not None:
        row["users"] = item.users
    return row
