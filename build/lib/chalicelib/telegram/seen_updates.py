"""Each Telegram update is handled once: its id is recorded with a conditional put before the work.

Telegram redelivers an update until the webhook answers 200 (and polling may overlap a webhook
switch), so the same update_id arriving twice must not queue the same capture twice.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from chalicelib.records.models import IdempotencyKey, applied

# Telegram keeps an undelivered update for 24 hours; remembering ids a week is plenty.
REMEMBER = timedelta(days=7)


def first_delivery(update_id: int, *, now: datetime) -> bool:
    """True the first time this update id is seen, False for every redelivery."""
    marker = IdempotencyKey(f"telegram-update:{update_id}", created_at=now, expires_at=now + REMEMBER)
    return applied(lambda: marker.save(condition=IdempotencyKey.key.does_not_exist()))
