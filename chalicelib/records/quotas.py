"""Per-user byte quotas and the storage counters, changed only by conditional updates (never read-then-write).

``bytes_available`` is decremented under ``bytes_available >= n``: concurrent reservations can
never overshoot the quota, and every later step (settle, release) is an exact counter move. The
breakdown the stats show (by platform, month and key prefix) moves in the same single-item update,
so the stats are always exactly what the quota says, and reading them never scans a bucket or table.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime

from chalicelib.errors import QuotaExceededError
from chalicelib.records import jobs, videos
from chalicelib.records.models import Job, User, Video, applied, transact


@dataclass(frozen=True)
class Usage:
    """Where stored bytes are counted: the video's platform and month, and the key prefix of each object."""

    platform: str
    month: str
    objects: dict[str, int] = field(default_factory=dict)

    @classmethod
    def of(cls, video: Video, objects: dict[str, int]) -> Usage:
        return cls(video.platform, f"{video.created_at:%Y-%m}", dict(objects))

    def actions(self, sign: int, videos: int) -> list:
        """Counter moves: ``sign`` +1 when bytes are stored, -1 when they are given back."""
        moved = Counter({f"platform:{self.platform}": 0, f"month:{self.month}": 0})
        for key, size in self.objects.items():
            moved[f"platform:{self.platform}"] += size
            moved[f"month:{self.month}"] += size
            moved[f"prefix:{key.split('/', 1)[0]}"] += size
        actions = [_add(User.usage_bytes, name, sign * size) for name, size in moved.items()]
        if videos:
            actions += [_add(User.usage_count, name, sign * videos)
                        for name in (f"platform:{self.platform}", f"month:{self.month}")]
        return actions


def _add(attribute, name: str, amount: int):
    """``attribute.name += amount`` on a map entry that may not exist yet."""
    return attribute[name].set((attribute[name] | 0) + amount)


def reserve(user_id: str, nbytes: int) -> None:
    """Hold ``nbytes`` for a capture in flight; QuotaExceededError when it does not fit."""
    if not applied(lambda: User(user_id).update(
            actions=[User.bytes_available.add(-nbytes), User.bytes_reserved.add(nbytes)],
            condition=(User.user_id.exists()) & (User.bytes_available >= nbytes))):
        raise QuotaExceededError(f"this needs {nbytes} bytes and the quota has less left")


def settle(user_id: str, *, reserved: int, actual: int, videos: int = 1, usage: Usage | None = None) -> None:
    """Turn a reservation into the real size; fails (QuotaExceededError) when the excess does not fit."""
    if not applied(lambda: _apply(settle_update(user_id, reserved=reserved, actual=actual, videos=videos,
                                                usage=usage))):
        raise QuotaExceededError(f"the stored video takes {actual} bytes, more than the quota has left")


def settle_update(user_id: str, *, reserved: int, actual: int, videos: int = 1, usage: Usage | None = None) -> tuple:
    """The settle as a (record, actions, condition) item, for the transaction that also marks the work stored."""
    extra = actual - reserved
    condition = User.user_id.exists()
    if extra > 0:
        condition &= User.bytes_available >= extra
    actions = [User.bytes_available.add(-extra), User.bytes_reserved.add(-reserved),
               User.bytes_used.add(actual), User.video_count.add(videos)]
    return User(user_id), actions + (usage.actions(+1, videos) if usage else []), condition


def release(user_id: str, *, reserved: int = 0, used: int = 0, videos: int = 0, usage: Usage | None = None) -> None:
    """Give back a reservation (failure) or stored bytes (delete)."""
    if reserved or used or videos:
        _apply(release_update(user_id, reserved=reserved, used=used, videos=videos, usage=usage))


def release_update(user_id: str, *, reserved: int = 0, used: int = 0, videos: int = 0,
                   usage: Usage | None = None) -> tuple:
    """The give-back as a (record, actions, condition) item, for a transaction that also clears who held it."""
    actions = [User.bytes_available.add(reserved + used), User.bytes_reserved.add(-reserved),
               User.bytes_used.add(-used), User.video_count.add(-videos)]
    return User(user_id), actions + (usage.actions(-1, videos) if usage else []), User.user_id.exists()


def give_back_reservation(video: Video, *, now: datetime, nbytes: int | None = None) -> bool:
    """A capture's reservation back to its owner, taken off its video in the same transaction: whoever clears it
    first (the worker's cleanup, the reaper, a delete) gives it back, and only once. False when it was not there
    (any more): someone else gave it back, or the commit turned it into stored bytes."""
    nbytes = video.bytes_reserved or 0 if nbytes is None else nbytes
    if not nbytes:
        return False
    return applied(lambda: transact(updates=(release_update(video.owner_id, reserved=nbytes),
                                             videos.reservation_cleared(video, nbytes, now=now))))


def held(job: Job, video: Video | None) -> int:
    """The bytes an attempt at ``job`` holds: a capture's on its video, a rendition's on the job."""
    if job.kind == jobs.RENDITION:
        return job.bytes_reserved or 0
    return (video.bytes_reserved or 0) if video is not None else 0


def give_back_held(job: Job, video: Video | None, *, now: datetime) -> bool:
    """What an attempt at ``job`` holds back to the owner, once: a capture's reservation is held on its video,
    a rendition's on the job (the worker's cleanup, a redelivery after a crash, the reaper and a delete share it)."""
    if job.kind == jobs.SEGMENT:
        return False  # a segment holds nothing: its capture's reservation stays on the video until the join
    if job.kind == jobs.RENDITION:
        nbytes = held(job, video)
        return bool(nbytes) and applied(lambda: transact(updates=(release_update(job.owner_id, reserved=nbytes),
                                                                 jobs.reservation_cleared(job, nbytes))))
    return video is not None and give_back_reservation(video, now=now)


def correct_counters(user: User, *, found: dict[str, int], expected: dict[str, int]) -> bool:
    """Set the counters to what the records add up to, only if nothing moved them since they were read as
    ``found`` (the maintenance's reconciliation); False when something did."""
    condition = User.quota_bytes == user.quota_bytes
    for name, value in found.items():
        condition &= getattr(User, name) == value
    return applied(lambda: user.update(actions=[getattr(User, name).set(value) for name, value in expected.items()],
                                       condition=condition))


def _apply(update: tuple) -> None:
    record, actions, condition = update
    record.update(actions=actions, condition=condition)


def user_stats(user: User) -> dict:
    """The caller's storage figures, straight from the counters on their record."""
    by_bytes, by_count = user.usage_bytes.as_dict(), user.usage_count.as_dict()
    return {
        "user_id": user.user_id, "quota_bytes": user.quota_bytes, "bytes_used": user.bytes_used,
        "bytes_reserved": user.bytes_reserved, "bytes_available": max(0, user.bytes_available),
        "video_count": user.video_count,
        "by_platform": _breakdown("platform:", by_bytes, by_count),
        "by_month": _breakdown("month:", by_bytes, by_count),
    }


def admin_stats(users: list[User]) -> dict:
    """Everyone's figures: totals, per user, bytes by key prefix, and bytes held by jobs in flight (temp)."""
    per_user = [user_stats(user) for user in users]
    by_prefix = Counter()
    for user in users:
        by_prefix.update({name.removeprefix("prefix:"): value for name, value in user.usage_bytes.as_dict().items()
                          if name.startswith("prefix:") and value})
    totals = {name: sum(u[name] for u in per_user)
              for name in ("quota_bytes", "bytes_used", "bytes_reserved", "video_count")}
    return {"totals": {**totals, "users": len(users)}, "per_user": per_user, "by_prefix": dict(by_prefix),
            "temp_bytes": totals["bytes_reserved"]}


def _breakdown(prefix: str, by_bytes: dict, by_count: dict) -> dict:
    names = {name for name in (*by_bytes, *by_count) if name.startswith(prefix)}
    rows = {name.removeprefix(prefix): {"bytes": by_bytes.get(name, 0), "count": by_count.get(name, 0)}
            for name in sorted(names)}
    return {key: row for key, row in rows.items() if row["bytes"] or row["count"]}
