"""Storage trends on moto: daily snapshots per user and for everyone, kept, and read back as a series."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from chalicelib import wiring
from chalicelib.errors import BadRequestError
from chalicelib.ops import trends
from chalicelib.records import quotas
from chalicelib.records.models import StorageSnapshot
from tests.conftest import seed_user
from tests.fakes import FakeClock

DAY_1 = datetime(2026, 3, 1, 23, 55, tzinfo=UTC)
DAY_2 = datetime(2026, 3, 2, 23, 55, tzinfo=UTC)


def snapshot_at(moment: datetime) -> dict:
    wiring.override(clock=FakeClock(moment))
    return trends.snapshot(services=wiring.services())


def test_daily_snapshots_keep_each_users_and_everyones_figures(mocked_aws):
    # GIVEN two users storing bytes over two days
    alice, bob = seed_user("alice", quota_bytes=1000).user_id, seed_user("bob", quota_bytes=2000).user_id
    quotas.settle(alice, reserved=0, actual=300)
    snapshot_at(DAY_1)
    quotas.settle(bob, reserved=0, actual=500)
    quotas.reserve(alice, 100)
    snapshot_at(DAY_2.replace(hour=1))
    # WHEN the day's snapshot is taken again later that day
    totals = snapshot_at(DAY_2)
    # THEN the day's figures are rewritten, not added
    assert totals == {"day": "2026-03-02", "users": 2, "bytes_used": 800, "bytes_reserved": 100,
                      "quota_bytes": 3000, "video_count": 2}
    assert StorageSnapshot.count() == 2 * 3  # two days of alice, bob and everyone
    # AND each series runs oldest first over the days asked for
    assert trends.series(alice, 30, now=DAY_2) == [
        {"day": "2026-03-01", "bytes_used": 300, "bytes_reserved": 0, "quota_bytes": 1000, "video_count": 1},
        {"day": "2026-03-02", "bytes_used": 300, "bytes_reserved": 100, "quota_bytes": 1000, "video_count": 1},
    ]
    assert [row["bytes_used"] for row in trends.series(bob, "30", now=DAY_2)] == [0, 500]
    assert trends.series(trends.EVERYONE, 1, now=DAY_2) == [
        {"day": "2026-03-02", "bytes_used": 800, "bytes_reserved": 100, "quota_bytes": 3000, "video_count": 2,
         "users": 2},
    ]
    assert trends.series("nobody", 30, now=DAY_2) == []


@pytest.mark.parametrize("days", [0, "0", "abc", "1.5", 367, "-3"])
def test_series_refuses_days_out_of_range(mocked_aws, days):
    with pytest.raises(BadRequestError) as error:
        trends.series("alice", days)
    assert error.value.code == "invalid_days"


def test_series_defaults_to_thirty_days_when_days_is_not_given(mocked_aws):
    seed_user("alice")
    snapshot_at(DAY_1)
    assert len(trends.series("alice", None, now=DAY_1.replace(month=3, day=30))) == 1
    assert trends.series("alice", None, now=DAY_1.replace(month=3, day=31)) == []


def test_the_daily_schedule_takes_the_snapshot(client, user):
    # WHEN EventBridge invokes the scheduled function
    event = client.events.generate_cw_event(source="aws.events", detail_type="Scheduled Event", detail={},
                                            resources=["arn:aws:events:us-east-1:000000000000:rule/daily"])
    client.lambda_.invoke("take_storage_snapshot", event)
    # THEN today's figures of the user and of everyone are stored
    assert {item.owner_id for item in StorageSnapshot.scan()} == {user.user_id, trends.EVERYONE}


def test_the_api_answers_the_daily_series_with_gaps_as_null_figures(client, user):
    # GIVEN snapshots of alice's figures five days ago and today, none in between
    quotas.settle(user.user_id, reserved=0, actual=300)
    today = datetime.now(UTC)
    for back in (5, 0):
        wiring.override(clock=FakeClock(later=-timedelta(days=back)))
        trends.snapshot(services=wiring.services())
    wiring.reset()
    # WHEN the stats are asked for with the last seven days
    answer = client.http.get("/api/storage/stats?days=7", headers=user.headers)
    # THEN the counters are as without days, and the series has every one of the seven days, oldest first
    assert answer.status_code == 200, answer.json_body
    stats = answer.json_body
    plain = client.http.get("/api/storage/stats", headers=user.headers).json_body
    assert "series" not in plain and {k: v for k, v in stats.items() if k != "series"} == plain
    expected = [(today - timedelta(days=back)).date().isoformat() for back in range(6, -1, -1)]
    assert [row["day"] for row in stats["series"]] == expected
    stored = {"bytes_used": 300, "bytes_reserved": 0, "quota_bytes": 10 * 1024**3, "video_count": 1}
    gap = dict.fromkeys(stored)
    assert [{k: v for k, v in row.items() if k != "day"} for row in stats["series"]] == [
        gap, stored, gap, gap, gap, gap, stored]


@pytest.mark.parametrize("query", ["days=0", "days=367", "days=abc", "days=-1", "days=2.5", "day=3"])
def test_the_api_refuses_days_out_of_range_with_the_error_body(client, user, query):
    answer = client.http.get(f"/api/storage/stats?{query}", headers=user.headers)
    assert answer.status_code == 400
    assert answer.json_body["error"]["code"] in ("invalid_days", "unknown_parameter")
    assert answer.json_body["error"]["message"]
