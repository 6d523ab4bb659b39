"""The platform canary through the production path: its schedules' use cases, the real worker handler on moto,
yt-dlp, ffmpeg and S3; the platforms answer with their recorded info dicts (offline), their media comes from
the loopback media server.
"""

from __future__ import annotations

import pytest
import yt_dlp

from chalicelib import platforms, wiring
from chalicelib.ops import canary
from chalicelib.records import videos
from chalicelib.records.models import OpsRecord
from chalicelib.records.users import get_user
from tests import fakes
from tests.integration.test_observability import emf_points, named

RECORDED = {"youtube": "youtube_video", "youtube-short": "youtube_video", "x": "twitter_multi_video",
            "tiktok": "tiktok_video", "instagram": "instagram_reel"}


@pytest.fixture(autouse=True)
def loopback_allowed(settings_env, work_dir):
    settings_env(PRSNL_ALLOW_LOOPBACK_URLS="true")


@pytest.fixture
def recorded_platforms(mocked_aws, media_server, recorded_media):
    recordings = {platforms.resolve(canary.LINKS[check]).canonical_url: name for check, name in RECORDED.items()}
    wiring.override(downloader=fakes.RecordedDownloader(media_server.url("files"), recordings))


def test_a_canary_run_captures_every_platform_reports_each_and_keeps_nothing(recorded_platforms, drain, capsys):
    # GIVEN the daily start: one capture per platform queued for the canary user
    started = canary.start(wiring.services())
    assert set(started) == set(canary.LINKS) and all("job_id" in entry for entry in started.values())
    # WHEN the worker runs them, and the finish comes an hour later
    drain()
    capsys.readouterr()
    outcomes = canary.finish(wiring.services())
    # THEN every check succeeded, with its time, one line each
    assert [(o.check, o.ok) for o in outcomes] == [(check, True) for check in canary.LINKS]
    assert all(o.line().split()[1] == "ok" and o.seconds >= 0 for o in outcomes)
    # AND one CanaryFailed data point of 0 per check
    points = named(emf_points(capsys.readouterr().out), "CanaryFailed")
    assert sorted((p["dims"]["check"], p["value"]) for p in points) == sorted((c, 0) for c in canary.LINKS)
    # AND the canary keeps no video, no object and no bytes; the run is over
    assert videos.list_for_owner(canary.OWNER, limit=100)[0] == []
    assert not list(wiring.services().storage.list(""))
    owner = get_user(canary.OWNER)
    assert (owner.bytes_used, owner.bytes_reserved, owner.video_count) == (0, 0, 0)
    assert canary.finish(wiring.services()) == []
    with pytest.raises(OpsRecord.DoesNotExist):
        OpsRecord.get(*canary.RUN)


def test_a_failing_platform_is_reported_with_its_code_and_counted_as_failed(mocked_aws, drain, capsys,
                                                                              settings_env):
    # GIVEN every platform answering with a bot check, and one attempt per job
    settings_env(PRSNL_MAX_ATTEMPTS="1")
    wiring.override(downloader=fakes.FailingDownloader(yt_dlp.utils.ExtractorError(
        "Sign in to confirm you're not a bot. Use --cookies-from-browser or --cookies")))
    canary.start(wiring.services())
    drain()
    capsys.readouterr()
    outcomes = canary.finish(wiring.services())
    # THEN each check failed with the code and the message that says what helps
    assert {(o.ok, o.code) for o in outcomes} == {(False, "bot_check")}
    assert "What helps:" in outcomes[0].line()
    points = named(emf_points(capsys.readouterr().out), "CanaryFailed")
    assert {p["value"] for p in points} == {1} and len(points) == len(canary.LINKS)
    assert videos.list_for_owner(canary.OWNER, limit=100)[0] == []


def test_a_capture_still_running_when_the_run_ends_is_a_failure_and_is_cancelled(recorded_platforms):
    # GIVEN a start whose captures the worker never ran
    canary.start(wiring.services())
    # WHEN the run finishes
    outcomes = canary.finish(wiring.services())
    # THEN each check is reported unfinished, and its queued video is gone
    assert {o.code for o in outcomes} == {"unfinished"}
    assert videos.list_for_owner(canary.OWNER, limit=100)[0] == []
