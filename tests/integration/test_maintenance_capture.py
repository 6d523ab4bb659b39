"""A capture running during a sweep loses nothing: the sweep runs (applying, with no grace period at all)
right after each upload of a real capture, when the objects exist and the record does not point to them yet."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from chalicelib import wiring
from chalicelib.config import get_settings
from chalicelib.ops import maintenance
from chalicelib.records import videos
from chalicelib.records.models import User
from chalicelib.storage.s3 import S3Storage


class SweepingStorage(S3Storage):
    """The real S3 adapter, with a whole maintenance pass after each upload: the worst moment for a sweep."""

    def __init__(self, bucket: str):
        super().__init__(bucket)
        self.reports: list[maintenance.Report] = []

    def put_file(self, path: Path, key: str) -> int:
        size = super().put_file(path, key)
        self.reports.append(maintenance.run(services=wiring.services(), apply=True))
        return size


@pytest.fixture(autouse=True)
def no_grace(settings_env):
    settings_env(PRSNL_ALLOW_LOOPBACK_URLS="true", PRSNL_ORPHAN_GRACE_SECONDS="0")


def test_capture_in_flight_loses_nothing_when_a_sweep_runs_mid_upload(client, user, drain, media_server):
    # GIVEN a sweep after every upload of the worker, with no grace period
    sweeping = SweepingStorage(get_settings().bucket)
    wiring.override(storage=sweeping)
    # WHEN a capture runs through the real worker
    response = client.http.post("/api/capture", headers=user.headers,
                                body=json.dumps({"url": media_server.url("files", "clip.mp4")}))
    assert drain() == 1
    # THEN the sweeps ran mid-capture and took nothing: no orphan, no broken record, no stuck job, no drift
    assert len(sweeping.reports) == 4  # the file and three thumbnails
    for report in sweeping.reports:
        assert not any(finding.found for finding in report.findings().values()), report.lines()
        assert report.users_skipped_busy == 1  # the capturing user's counters are left to the capture
    # AND the video is ready with every object in place
    video = videos.get(response.json_body["video_id"])
    assert video.status == videos.READY
    assert all(sweeping.head(key) for key in videos.stored_keys(video))
    # AND afterwards the counters equal the records and a sweep finds nothing to do
    after = maintenance.run(services=wiring.services(), apply=True)
    assert not any(finding.found for finding in after.findings().values())
    account = User.get(user.user_id)
    assert (account.bytes_used, account.video_count, account.bytes_reserved) == (videos.stored_bytes(video), 1, 0)
