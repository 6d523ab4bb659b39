"""The pipeline's decisions, as pure functions: limits before a download, retry or fail, short-link duplicates.

Pure so that they are tested with plain values (tests/unit/test_pipeline_rules.py), without moto or ffmpeg.
"""

from __future__ import annotations

from enum import Enum

from chalicelib.config import Settings
from chalicelib.errors import PermanentJobError, PrsnlError, TransientJobError
from chalicelib.media.download import expected_size
from chalicelib.records import videos
from chalicelib.records.models import Video


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


class AfterFailure(Enum):
    FAIL = "fail"  # no retry helps (too large, private, blocked, corrupt...): failed now, the message is done
    FAIL_LAST = "fail_last"  # a transient failure on the last attempt: failed, and the message goes to the DLQ
    RETRY = "retry"  # a transient failure with attempts left: queued again, SQS redelivers it after a backoff


def after_failure(error: PrsnlError, *, attempts: int, max_attempts: int) -> AfterFailure:
    if not isinstance(error, TransientJobError):
        return AfterFailure.FAIL
    return AfterFailure.FAIL_LAST if attempts >= max_attempts else AfterFailure.RETRY


class ShortLink(Enum):
    CONTINUE = "continue"  # the owner has no other record of the item: this capture goes on with it
    REPLACE = "replace"  # the owner's other record of it failed: it goes, this capture goes on
    END_ON_EXISTING = "end_on_existing"  # the owner has it already: the job ends on that record, this one goes


def short_link_outcome(existing: Video | None, video_id: str) -> ShortLink:
    """What a capture does once its short link led to an item the owner may have saved already."""
    if existing is None or existing.video_id == video_id:
        return ShortLink.CONTINUE
    return ShortLink.REPLACE if existing.status == videos.FAILED else ShortLink.END_ON_EXISTING
