"""The job message schema and the retry schedule (no AWS)."""

from __future__ import annotations

import json

from chalicelib.records.jobs import JobMessage
from chalicelib.worker import BACKOFF_MAX_SECONDS, backoff_seconds


def test_message_round_trips_through_json():
    message = JobMessage("job-1", "video-1", "alice", correlation_id="corr-1", enqueued_at=12.5)
    assert JobMessage.from_json(message.to_json()) == message


def test_message_ignores_fields_it_does_not_know_when_an_older_worker_reads_it():
    body = json.dumps({"job_id": "j", "video_id": "v", "owner_id": "o", "enqueued_at": 1.0, "added_later": 1})
    assert JobMessage.from_json(body) == JobMessage("j", "v", "o", enqueued_at=1.0)


def test_backoff_doubles_per_delivery_up_to_the_cap():
    assert [backoff_seconds(n, 10) for n in (1, 2, 3, 4)] == [10, 20, 40, 80]
    assert backoff_seconds(50, 10) == BACKOFF_MAX_SECONDS
    assert backoff_seconds(3, 0) == 0


def test_a_fanned_out_jobs_progress_is_the_sum_over_its_segments_while_it_waits():
    from chalicelib.records import jobs
    from chalicelib.records.models import Job

    # GIVEN a capture waiting on 4 segments: one done, one half-way, two not started
    job = Job("j", video_id="v", owner_id="o", status=jobs.WAITING, segments=4, segments_done={0},
              segment_percent={"0": 100, "1": 50}, progress={"stage": "processing", "percent": 0})
    # THEN the API shows how many segments there are, how many are done, and 150 of 400 percent
    shown = jobs.to_dict(job)
    assert (shown["segments"], shown["segments_done"], shown["progress"]) == \
        (4, 1, {"stage": "processing", "percent": 37.5})
    assert "segment_percent" not in shown
