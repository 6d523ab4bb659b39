"""Telegram users as our users: the same person, quota and videos on the API and the bot.

A whitelisted Telegram user we have not met gets a user of their own on first contact (id
``telegram-<id>``, the default quota), unless an existing user was linked to that Telegram id.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from chalicelib.records import users

if TYPE_CHECKING:
    from chalicelib.wiring import Services


def owner_for(telegram_id: int, name: str, services: Services) -> str:
    """Our user id for this Telegram user, created on first contact (safe when two messages race)."""
    linked = users.find_by_telegram_id(telegram_id)
    if linked is not None:
        return linked
    user = users.create_user(f"telegram-{telegram_id}", name=name or str(telegram_id),
                             quota_bytes=services.settings.default_quota_bytes, now=services.clock.now(),
                             telegram_id=telegram_id)
    return user.user_id
