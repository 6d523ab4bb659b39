"""The pipeline's decisions, as pure functions: limits before a download, retry or fail, short-link duplicates.

Pure so that they are tested with plain values (tests/unit/test_pipeline_rules.py), without moto or ffmpeg.
"""

from __future__ import annotations

from enum import Enum
from typing import TYPE_CHECKING

from chalicelib.config import Settings
from chalicelib.errors import PermanentJobError, PrsnlError, TransientJobError, ours
from chalicelib.media.download import expected_size
from chalicelib.media.probe import MediaInfo
from chalicelib.records import videos
from chalicelib.records.models import Video

if TYPE_CHECKING:
    from chalicelib.media.transcode import Plan


def check_before_download(item: dict, settings: Settings) -> int:
    """The bytes to reserve for one item the platform described; refuses what is too long or too large."""
    check_duration(item.get("duration"), settings)
    size = expected_size(item) or 0
    if size > settings.max_video_bytes:
        raise PermanentJobError(f"the video is {size} bytes, over the limit of {settings.max_video_bytes}",
                                code="too_large")
    return size


def check_duration(duration: float | None, settings: Settings) -> None:
    if duration and duration > settings.max_duration_seconds:
        raise PermanentJobError(f"the video lasts {duration:.0f} s, over the limit of "
                                f"{settings.max_duration_seconds} s", code="too_long")


def stored_kind(asked: str, info: MediaInfo) -> str:
    """What an item is kept as once its file is probed: audio when that was asked for or when the file has sound
    and no picture (a direct MP3, a podcast), else what the platform said."""
    if asked == videos.AUDIO or (info.video is None and info.audio is not None):
        return videos.AUDIO
    return asked


def fans_out(plan: Plan, settings: Settings, *, single: bool) -> bool:
    """A transcode too long for one worker's time is split into segments: only the picture needs encoding, only
    past ``fanout_above_seconds``, and only for a capture of one item (a post's items are transcoded in place)."""
    return single and plan.video == "h264" and plan.source.duration > settings.fanout_above_seconds


class AfterFailure(Enum):
    FAIL = "fail"  # no retry helps (too large, private, blocked, corrupt...): failed now, the message is done
    FAIL_LAST = "fail_last"  # a transient failure on the last attempt: failed for good, the message is done
    RETRY = "retry"  # a transient failure with attempts left: queued again, SQS redelivers it after a backoff


# The site pushes back (a bot check, a rate limit): retrying soon makes it worse, so one more try, later.
PUSHBACK = frozenset({"bot_check", "rate_limited"})
PUSHBACK_ATTEMPTS = 2
PUSHBACK_DELAY_FACTOR = 60  # the delay before that one retry, in units of the retry backoff (10 s: 10 minutes)
RETRY_DELAY_MAX_SECONDS = 43_200  # SQS's longest visibility timeout


def after_failure(error: PrsnlError, *, attempts: int, max_attempts: int) -> AfterFailure:
    if not isinstance(error, TransientJobError):
        return AfterFailure.FAIL
    last = min(max_attempts, PUSHBACK_ATTEMPTS) if error.code in PUSHBACK else max_attempts
    return AfterFailure.FAIL_LAST if attempts >= last else AfterFailure.RETRY


def retry_delay(error: BaseException, backoff: int, base: int) -> int:
    """Seconds before a failed attempt's next delivery: the usual backoff, or much longer when the site pushes back."""
    if getattr(error, "code", None) in PUSHBACK:
        return min(RETRY_DELAY_MAX_SECONDS, max(backoff, base * PUSHBACK_DELAY_FACTOR))
    return backoff


def unexpected(reference: str) -> TransientJobError:
    """What the owner reads about a failure of ours (a bug, a crashed tool): no internals, a reference to find the
    log by. Retried, as an AWS hiccup may be behind it."""
    return TransientJobError(ours(reference), code="internal")


class ShortLink(Enum):
    CONTINUE = "continue"  # the owner has no other record of the item: this capture goes on with it
    REPLACE = "replace"  # the owner's other record of it failed: it goes, this capture goes on
    END_ON_EXISTING = "end_on_existing"  # the owner has it already: the job ends on that record, this one goes


def short_link_outcome(existing: Video | None, video_id: str) -> ShortLink:
    """What a capture does once its short link led to an item the owner may have saved already."""
    if existing is None or existing.video_id == video_id:
        return ShortLink.CONTINUE
    return ShortLink.REPLACE if existing.status == videos.FAILED else ShortLink.END_ON_EXISTING
