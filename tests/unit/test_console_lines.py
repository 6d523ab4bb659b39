"""The console lines of `make run`: one per job event, each reported once however often the job is seen."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from chalicelib.local.console import event_lines
from chalicelib.records.models import Job, Video

T0 = datetime(2026, 12, 2, 5, 0, 0, tzinfo=UTC)
URL = "https://example.com/v.mp4"


def job(status: str, **fields) -> Job:
    return Job(job_id="j1", video_id="v1", owner_id="u", kind="capture", status=status, created_at=T0,
               updated_at=T0 + timedelta(seconds=9), **fields)


def video(**fields) -> Video:
    return Video(video_id="v1", owner_id="u", status="ready", source_url=URL, **fields)


@pytest.mark.parametrize("the_job, the_video, keys, last_words", [
    (job("queued"), video(), [("j1", "queued", 0)], ["queued", "capture", "of", URL, "job", "j1"]),
    (job("queued", attempts=1), video(),
     [("j1", "queued", 0), ("j1", "queued", 1)], ["queued", "capture", "of", URL, "(attempt", "2)", "job", "j1"]),
    (job("running"), video(), [("j1", "queued", 0)], ["queued", "capture", "of", URL, "job", "j1"]),
    (job("failed", error_code="not_found", error_message="gone"), video(),
     [("j1", "queued", 0), ("j1", "failed")],
     ["failed", "capture", "of", URL + ":", "not_found:", "gone", "job", "j1"]),
    (job("succeeded"), video(title="A talk", filesize=12_345_678),
     [("j1", "queued", 0), ("j1", "succeeded")], ["ready", '"A', 'talk"', "12.3", "MB", "video", "v1"]),
    (job("succeeded"), None, [("j1", "queued", 0), ("j1", "succeeded")], ["ready", "(untitled)", "?", "video", "v1"]),
])
def test_event_lines(the_job, the_video, keys, last_words):
    lines = event_lines(the_job, the_video)
    assert [key for key, _ in lines] == keys
    assert lines[-1][1].split()[1:] == last_words
