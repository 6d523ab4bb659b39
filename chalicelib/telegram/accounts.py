"""Telegram users as our users: the same person, quota and videos on the API and the bot.

A whitelisted Telegram user we have not met gets a user of their own on first contact (id
``telegram-<id>``, the default quota), unless an existing user was linked to that Telegram id.
"""

from __future__ import annotations

from chalicelib.records import users
from chalicelib.records.models import User
from chalicelib.wiring import Services


def owner_for(telegram_id: int, name: str, services: Services) -> str:
    """Our user id for this Telegram user, created on first contact (safe when two messages race)."""
    for hit in User.by_telegram_id.query(telegram_id, limit=1):
        return hit.user_id
    user = users.create_user(f"telegram-{telegram_id}", name=name or str(telegram_id),
                             quota_bytes=services.settings.default_quota_bytes, now=services.clock.now(),
                             telegram_id=telegram_id)
    return user.user_id


def link(user_id: str, telegram_id: int) -> None:
    """Make ``user_id`` the account of this Telegram user (and no other user's)."""
    users.get_user(user_id)
    for hit in User.by_telegram_id.query(telegram_id):
        if hit.user_id != user_id:
            User(hit.user_id).update(actions=[User.telegram_id.remove()], condition=User.user_id.exists())
    User(user_id).update(actions=[User.telegram_id.set(telegram_id)], condition=User.user_id.exists())
