"""Each Telegram update is handled once: its id is recorded once handling succeeded (or failed for good).

Telegram redelivers an update until the webhook answers 2xx (and polling may overlap a webhook switch). An
update is marked only after it was handled, so one whose reply could not be sent (Bot API 429, a network
error) is answered 503, delivered again and handled then; the capture it makes is idempotent per owner and
link, so a redelivery that comes while the first one runs saves the link once.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from chalicelib.records.models import IdempotencyKey

# Telegram keeps an undelivered update for 24 hours; remembering ids a week is plenty.
REMEMBER = timedelta(days=7)


def _key(update_id: int) -> str:
    return f"telegram-update:{update_id}"


def handled(update_id: int) -> bool:
    try:
        IdempotencyKey.get(_key(update_id), consistent_read=True)
    except IdempotencyKey.DoesNotExist:
        return False
    return True


def mark_handled(update_id: int, *, now: datetime) -> None:
    IdempotencyKey(_key(update_id), created_at=now, expires_at=now + REMEMBER).save()
