"""User records: creation with a full quota, lookups, the admin changes (quota, admin flag) and the user's own
settings (caption languages)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime

from chalicelib.errors import ForbiddenError, NotFoundError
from chalicelib.records.models import User, applied


def create_user(user_id: str, *, name: str, quota_bytes: int, now: datetime, is_admin: bool = False,
                telegram_id: int | None = None) -> User:
    """Create the user once; an existing user is left as it is (safe to seed twice)."""
    user = User(user_id, name=name, quota_bytes=quota_bytes, bytes_available=quota_bytes, is_admin=is_admin,
                telegram_id=telegram_id, created_at=now, usage_bytes={}, usage_count={})
    if not applied(lambda: user.save(condition=User.user_id.does_not_exist())):
        return get_user(user_id)
    return user


def get_user(user_id: str) -> User:
    try:
        return User.get(user_id)
    except User.DoesNotExist:
        raise NotFoundError(f"user {user_id} not found") from None


def get_admin(user_id: str) -> User:
    """The user when they are an admin; ForbiddenError otherwise."""
    user = get_user(user_id)
    if not user.is_admin:
        raise ForbiddenError("this needs an admin's API key")
    return user


def all_users() -> Iterator[User]:
    """Every user (admin views): the users table holds one small counter record per person."""
    return User.scan()


def set_quota(user_id: str, quota_bytes: int) -> User:
    """Change the quota; what is available moves by the same amount, guarded against a concurrent change."""
    while True:
        user = get_user(user_id)
        if applied(lambda user=user: user.update(
                actions=[User.quota_bytes.set(quota_bytes), User.bytes_available.add(quota_bytes - user.quota_bytes)],
                condition=User.quota_bytes == user.quota_bytes)):
            return user


def set_admin(user_id: str, is_admin: bool) -> User:
    user = get_user(user_id)
    user.update(actions=[User.is_admin.set(is_admin)], condition=User.user_id.exists())
    return user


def caption_languages(user: User, default: tuple[str, ...]) -> tuple[str, ...]:
    """The languages whose captions the user's captures keep: their own choice, else the stage's default."""
    return tuple(user.caption_languages) if user.caption_languages is not None else default


def set_caption_languages(user_id: str, languages: list[str] | None) -> User:
    """The user's own caption languages (already checked by the caller); None goes back to the stage's default."""
    user = get_user(user_id)
    action = User.caption_languages.remove() if languages is None else User.caption_languages.set(list(languages))
    user.update(actions=[action], condition=User.user_id.exists())
    return user


def find_by_telegram_id(telegram_id: int) -> str | None:
    """The user linked to this Telegram account, if any."""
    for hit in User.by_telegram_id.query(telegram_id, limit=1):
        return hit.user_id
    return None


def link_telegram(user_id: str, telegram_id: int) -> None:
    """Make ``user_id`` the account of this Telegram user (and no other user's)."""
    get_user(user_id)
    for hit in User.by_telegram_id.query(telegram_id):
        if hit.user_id != user_id:
            User(hit.user_id).update(actions=[User.telegram_id.remove()], condition=User.user_id.exists())
    User(user_id).update(actions=[User.telegram_id.set(telegram_id)], condition=User.user_id.exists())
