"""The pipeline's decisions as plain values: limits before a download, retry or fail, short-link duplicates.
The platform's answer comes from a fake downloader; no moto, no ffmpeg."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime

import pytest

from chalicelib import platforms
from chalicelib.config import get_settings
from chalicelib.errors import PermanentJobError, QuotaExceededError, TransientJobError, UnsupportedUrlError
from chalicelib.pipeline import rules
from chalicelib.platforms import failures
from chalicelib.records import videos
from chalicelib.records.models import Video
from tests.fakes import FakeDownloader, recorded

MB = 1024 * 1024


def limited(**values):
    return replace(get_settings(), **values)


@pytest.mark.parametrize("info, expected", [
    ({"duration": 60, "filesize": 5 * MB}, 5 * MB),
    ({"duration": 60, "requested_formats": [{"filesize": 3 * MB}, {"filesize": 1 * MB}]}, 4 * MB),
    ({"duration": 60, "filesize_approx": 2 * MB}, 2 * MB),
    ({"duration": 60, "_content_length": 7 * MB}, 7 * MB),  # a direct file: only the server's length is known
    ({"duration": None}, 0),  # nothing known: the download itself enforces the limit
    ({"duration": 60, "filesize": 11 * MB}, "too_large"),
    ({"duration": 601, "filesize": 1 * MB}, "too_long"),
])
def test_limits_before_a_download_when_the_platform_describes_an_item(info, expected):
    settings = limited(max_video_bytes=10 * MB, max_duration_seconds=600)
    # WHEN the platform's description (what the fake downloader's probe answers) is checked
    item = FakeDownloader(info).probe("https://example.com/v.mp4")
    if isinstance(expected, int):
        assert rules.check_before_download(item, settings) == expected
    else:
        with pytest.raises(PermanentJobError) as refused:
            rules.check_before_download(item, settings)
        assert refused.value.code == expected


def test_limits_apply_to_every_item_of_a_post_when_the_post_is_probed():
    # GIVEN an X post with three items (12.5 s, 8 s, one of unknown length), as yt-dlp describes it (recorded),
    # probed through the fake downloader
    info = FakeDownloader(recorded("twitter_multi_video", "http://127.0.0.1:1")).probe("https://x.com/a/status/1")
    items = platforms.get_platform("twitter").entries(info)
    longest = max(item.get("duration") or 0 for item in items)
    assert len(items) == 3 and longest == 12.5
    # THEN a duration limit at the longest item admits the post, and one second less refuses it
    for item in items:
        rules.check_before_download(item, limited(max_duration_seconds=int(longest) + 1))
    with pytest.raises(PermanentJobError) as refused:
        for item in items:
            rules.check_before_download(item, limited(max_duration_seconds=int(longest) - 1))
    assert refused.value.code == "too_long"


@pytest.mark.parametrize("error, attempts, expected", [
    (PermanentJobError("private", code="private_or_login_required"), 1, rules.AfterFailure.FAIL),
    (PermanentJobError("too big", code="too_large"), 3, rules.AfterFailure.FAIL),
    (QuotaExceededError("full"), 1, rules.AfterFailure.FAIL),
    (UnsupportedUrlError("no"), 1, rules.AfterFailure.FAIL),
    (TransientJobError("503"), 1, rules.AfterFailure.RETRY),
    (TransientJobError("503"), 2, rules.AfterFailure.RETRY),
    (TransientJobError("503"), 3, rules.AfterFailure.FAIL_LAST),
    (TransientJobError("503"), 4, rules.AfterFailure.FAIL_LAST),
    (TransientJobError("not a bot?", code="bot_check"), 1, rules.AfterFailure.RETRY),
    (TransientJobError("not a bot?", code="bot_check"), 2, rules.AfterFailure.FAIL_LAST),
    (TransientJobError("429", code="rate_limited"), 2, rules.AfterFailure.FAIL_LAST),
    (rules.unexpected("ref-1"), 1, rules.AfterFailure.RETRY),
])
def test_retry_or_fail_when_an_attempt_fails(error, attempts, expected):
    assert rules.after_failure(error, attempts=attempts, max_attempts=3) is expected


def _record(video_id: str, status: str) -> Video:
    now = datetime(2026, 1, 1, tzinfo=UTC)
    return Video(video_id, owner_id="alice", created_at=now, updated_at=now, status=status,
                 source_url="https://example.com", canonical_url="https://example.com",
                 owner_source=videos.owner_source("alice", "tiktok:7300000000000000001"), platform="tiktok")


@pytest.mark.parametrize("existing, expected", [
    (None, rules.ShortLink.CONTINUE),
    (_record("this-capture", videos.PROCESSING), rules.ShortLink.CONTINUE),  # the index found this very record
    (_record("earlier", videos.FAILED), rules.ShortLink.REPLACE),
    (_record("earlier", videos.READY), rules.ShortLink.END_ON_EXISTING),
    (_record("earlier", videos.QUEUED), rules.ShortLink.END_ON_EXISTING),
])
def test_short_link_dedupe_when_it_leads_to_an_item_the_owner_may_have(existing, expected):
    # GIVEN a TikTok short link that the fake downloader's redirects lead to a video
    short = "https://vm.tiktok.com/ZMabc123/"
    downloader = FakeDownloader(redirects={short: "https://www.tiktok.com/@someone/video/7300000000000000001"})
    assert platforms.resolve(short).needs_resolution
    resolved = platforms.resolve(downloader.follow_redirects(short))
    # THEN the item's de-duplication key is the one the owner's other record would carry, and the outcome follows it
    assert videos.owner_source("alice", resolved.dedupe_key) == _record("x", videos.READY).owner_source
    assert rules.short_link_outcome(existing, "this-capture") is expected


@pytest.mark.parametrize("code, backoff, expected", [
    ("transient", 20, 20),
    ("internal", 20, 20),
    ("bot_check", 20, 600),  # one retry, ten minutes later (backoff base 10 s)
    ("rate_limited", 20, 600),
])
def test_a_site_that_pushes_back_is_retried_much_later(code, backoff, expected):
    assert rules.retry_delay(TransientJobError("x", code=code), backoff, 10) == expected


def test_an_unexpected_failure_tells_the_owner_only_a_reference():
    error = rules.unexpected("req-42")
    assert (error.code, error.message) == ("internal", "Something went wrong on our side (reference req-42)")


@pytest.mark.parametrize("code", sorted(failures.WHY))
def test_no_failure_message_promises_a_retry_and_pushback_says_what_helps(code):
    message = failures.error(code, "YouTube", "detail").message
    assert "we will try again" not in message.lower()
    if code in rules.PUSHBACK:
        assert "What helps:" in message


@pytest.mark.parametrize("video, audio, seconds, single, expected", [
    ("h264", "aac", 301, True, True),  # a transcode past the threshold: fanned out
    ("h264", "aac", 300, True, False),  # at the threshold: one worker
    ("copy", "aac", 4 * 3600, True, False),  # a remux (only the sound encoded) takes seconds: never
    ("h264", None, 3600, True, True),  # a silent video too
    ("h264", "aac", 3600, False, False),  # an item of a post of several: transcoded in place
])
def test_a_transcode_fans_out_only_when_its_picture_is_encoded_past_the_threshold(video, audio, seconds, single,
                                                                                  expected):
    from chalicelib.media.probe import MediaInfo
    from chalicelib.media.transcode import Plan

    plan = Plan(MediaInfo("matroska,webm", seconds, 1, None, None, None), video=video, audio=audio, reason="test")
    assert rules.fans_out(plan, limited(fanout_above_seconds=300), single=single) is expected
