"""GET /api/admin/metrics and `prsnl-video ops`: per platform and window, the figures of a known set of
finished jobs, read from the hourly rollups the worker keeps (no scan); and a real capture counted."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest

from chalicelib import wiring
from chalicelib.cli import main as cli
from chalicelib.ops import rollups
from tests.conftest import seed_user
from tests.fakes import FakeClock

NOW = datetime(2026, 11, 5, 12, 30, tzinfo=UTC)


@pytest.fixture
def admin(mocked_aws):
    return seed_user("root", is_admin=True)


def seed(hours_ago: float, platform: str, *, code: str | None = None, download: float | None = None,
         processing: float | None = None) -> None:
    rollups.record_outcome(wiring.services(), platform, code=code, download_seconds=download,
                           processing_seconds=processing, at=NOW - timedelta(hours=hours_ago))


@pytest.fixture
def seeded(mocked_aws):
    """This hour, five hours ago, three days ago, and ten days ago (older than any window)."""
    wiring.override(clock=FakeClock(NOW))
    for download, processing in ((2, 1), (3, 1), (40, 5)):
        seed(0.2, "youtube", download=download, processing=processing)
    seed(0.1, "youtube", code="bot_check")
    seed(0.4, "tiktok", code="rate_limited")
    rollups.record_retry(wiring.services(), "tiktok", at=NOW)
    for download in (10, 10, 10, 100):
        seed(5, "youtube", download=download, processing=20)
    for code in ("bot_check", "bot_check", "geo_blocked"):
        seed(5, "youtube", code=code)
    seed(72, "twitter", download=1, processing=2)
    seed(72, "twitter", download=0.2, processing=2)
    seed(72, "twitter", code="too_large")
    for _ in range(5):
        seed(240, "youtube", code="removed")


def test_admin_metrics_match_the_seeded_jobs_per_window_and_platform(client, admin, seeded):
    response = client.http.get("/api/admin/metrics", headers=admin.headers)
    assert response.status_code == 200
    windows = response.json_body["windows"]
    assert response.json_body["generated_at"] == NOW.isoformat()
    # the last hour: 3 of 4 YouTube captures succeeded; p50/p95 are the bounds of the buckets holding the rank
    hour = windows["hour"]
    assert set(hour) == {"all", "youtube", "tiktok"}
    assert hour["youtube"] == {
        "count": 4, "succeeded": 3, "failed": 1, "retried": 0, "success_rate": 0.75,
        "download_seconds": {"p50": 3, "p95": 45}, "processing_seconds": {"p50": 1, "p95": 5},
        "top_errors": [{"code": "bot_check", "count": 1}]}
    assert hour["tiktok"]["count"] == 1 and hour["tiktok"]["success_rate"] == 0 and hour["tiktok"]["retried"] == 1
    assert hour["tiktok"]["download_seconds"] == {"p50": None, "p95": None}
    assert hour["all"]["count"] == 5 and hour["all"]["success_rate"] == 0.6
    # the last day adds five hours ago
    day = windows["day"]["youtube"]
    assert (day["count"], day["succeeded"], day["success_rate"]) == (11, 7, 0.6364)
    assert day["download_seconds"] == {"p50": 10, "p95": 120}
    assert day["processing_seconds"] == {"p50": 20, "p95": 20}
    assert day["top_errors"] == [{"code": "bot_check", "count": 3}, {"code": "geo_blocked", "count": 1}]
    # the last week adds X three days ago, and never the ten-day-old failures
    week = windows["week"]
    assert set(week) == {"all", "youtube", "tiktok", "twitter"}
    assert week["youtube"] == day
    assert week["twitter"]["download_seconds"] == {"p50": 0.5, "p95": 1}
    assert week["twitter"]["top_errors"] == [{"code": "too_large", "count": 1}]
    assert week["all"]["count"] == 11 + 1 + 3


def test_admin_metrics_are_for_admins_only(client, user):
    assert client.http.get("/api/admin/metrics").status_code == 401
    assert client.http.get("/api/admin/metrics", headers=user.headers).status_code == 403


def test_ops_command_prints_what_the_endpoint_answers(client, admin, seeded, capsys, monkeypatch, tmp_path):
    monkeypatch.setenv("PRSNL_LOCAL_DIR", str(tmp_path))  # no `make run` stack: the environment's AWS (moto)
    endpoint = client.http.get("/api/admin/metrics", headers=admin.headers).json_body
    capsys.readouterr()
    assert cli(["ops", "--json"]) == 0
    assert json.loads(capsys.readouterr().out) == endpoint
    assert cli(["ops"]) == 0
    table = capsys.readouterr().out.splitlines()
    assert table[:2] == ["last hour", "platform      count  success   dl p50   dl p95  proc p50  proc p95  top errors"]
    youtube = next(line for line in table[2:] if line.startswith("youtube"))
    assert youtube.split() == ["youtube", "4", "75%", "≤3", "s", "≤45", "s", "≤1", "s", "≤5", "s", "bot_check", "(1)"]
    assert "last week" in table and any(line.startswith("twitter") for line in table)


def test_a_real_capture_lands_in_the_rollup(client, admin, user, drain, media_server, settings_env):
    settings_env(PRSNL_ALLOW_LOOPBACK_URLS="true")
    body = json.dumps({"url": media_server.url("files", "clip.mp4")})
    captured = client.http.post("/api/capture", headers=user.headers, body=body).json_body
    drain()
    hour = client.http.get("/api/admin/metrics", headers=admin.headers).json_body["windows"]["hour"]
    assert set(hour) == {"all", captured["video"]["platform"]}
    figures = hour["all"]
    assert (figures["count"], figures["success_rate"]) == (1, 1.0)
    assert figures["download_seconds"]["p50"] is not None and figures["processing_seconds"]["p95"] is not None
