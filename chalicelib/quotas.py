"""Per-user byte quotas, changed only by conditional updates (never read-then-write).

``bytes_available`` is decremented under ``bytes_available >= n``: concurrent reservations can
never overshoot the quota, and every later step (settle, release) is an exact counter move.
"""

from __future__ import annotations

from pynamodb.exceptions import UpdateError

from chalicelib.errors import QuotaExceededError
from chalicelib.models import User, condition_failed


def reserve(user_id: str, nbytes: int) -> None:
    """Hold ``nbytes`` for a capture in flight; QuotaExceededError when it does not fit."""
    try:
        User(user_id).update(
            actions=[User.bytes_available.add(-nbytes), User.bytes_reserved.add(nbytes)],
            condition=(User.user_id.exists()) & (User.bytes_available >= nbytes),
        )
    except UpdateError as exc:
        if condition_failed(exc):
            raise QuotaExceededError(f"this needs {nbytes} bytes and the quota has less left") from None
        raise


def settle(user_id: str, *, reserved: int, actual: int, videos: int = 1) -> None:
    """Turn a reservation into the real size; fails (QuotaExceededError) when the excess does not fit."""
    extra = actual - reserved
    condition = User.user_id.exists()
    if extra > 0:
        condition &= User.bytes_available >= extra
    try:
        User(user_id).update(
            actions=[User.bytes_available.add(-extra), User.bytes_reserved.add(-reserved),
                     User.bytes_used.add(actual), User.video_count.add(videos)],
            condition=condition,
        )
    except UpdateError as exc:
        if condition_failed(exc):
            raise QuotaExceededError(f"the stored video takes {actual} bytes, more than the quota has left") from None
        raise


def release(user_id: str, *, reserved: int = 0, used: int = 0, videos: int = 0) -> None:
    """Give back a reservation (failure) or stored bytes (delete)."""
    if not (reserved or used or videos):
        return
    User(user_id).update(
        actions=[User.bytes_available.add(reserved + used), User.bytes_reserved.add(-reserved),
                 User.bytes_used.add(-used), User.video_count.add(-videos)],
        condition=User.user_id.exists(),
    )
