"""User records: creation with a full quota, and lookups."""

from __future__ import annotations

from datetime import datetime

from pynamodb.exceptions import PutError

from chalicelib.errors import NotFoundError
from chalicelib.models import User, condition_failed


def create_user(user_id: str, *, name: str, quota_bytes: int, now: datetime, is_admin: bool = False,
                telegram_id: int | None = None) -> User:
    """Create the user once; an existing user is left as it is (safe to seed twice)."""
    user = User(user_id, name=name, quota_bytes=quota_bytes, bytes_available=quota_bytes, is_admin=is_admin,
                telegram_id=telegram_id, created_at=now)
    try:
        user.save(condition=User.user_id.does_not_exist())
    except PutError as exc:
        if not condition_failed(exc):
            raise
        return get_user(user_id)
    return user


def get_user(user_id: str) -> User:
    try:
        return User.get(user_id)
    except User.DoesNotExist:
        raise NotFoundError(f"user {user_id} not found") from None
