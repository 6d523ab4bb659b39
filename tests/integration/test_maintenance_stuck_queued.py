"""No job stays ``queued`` forever: a failing heartbeat does not use up deliveries, the maintenance sends a lost
message again once and then gives the job up, and a message that cannot be sent leaves nothing waiting for it."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime

import pytest
from botocore.exceptions import ClientError

from chalicelib import renditions, wiring
from chalicelib.errors import NotFoundError
from chalicelib.queue import SqsJobQueue
from chalicelib.records import jobs, quotas, videos
from chalicelib.records.models import OpsRecord, User, Video
from tests.conftest import seed_user
from tests.integration.test_maintenance import state, stuck_job, sweep, video_record

STALE_HOURS = 7  # past the default PRSNL_STALE_QUEUED_SECONDS (6 h)


@pytest.fixture(autouse=True)
def loopback(settings_env):
    settings_env(PRSNL_ALLOW_LOOPBACK_URLS="true")


def lose_messages() -> None:
    """What the redrive does once a message's deliveries are used up: it leaves the jobs queue."""
    queue = wiring.services().queue
    for message in queue.receive(wait_seconds=0):
        queue.delete(message["ReceiptHandle"])


def capture(client, user, media_server) -> str:
    response = client.http.post("/api/capture", headers=user.headers,
                                body=json.dumps({"url": media_server.url("files", "clip.mp4")}))
    assert response.status_code == 202
    return response.json_body["job_id"]


def missing_queue() -> SqsJobQueue:
    """The real adapter on a queue that does not exist: every send fails as SQS fails."""
    return SqsJobQueue("prsnl-local-no-such-queue")


def test_a_failing_heartbeat_does_not_fail_the_batch(client, user, drain, media_server):
    # GIVEN a queued capture, and a heartbeat that cannot be written (its table is gone)
    job_id = capture(client, user, media_server)
    OpsRecord.delete_table()
    # WHEN the worker runs the queue
    assert drain() == 1
    # THEN the job ran all the same
    assert jobs.get(job_id).status == jobs.SUCCEEDED


def test_a_lost_message_is_sent_again_once_then_the_job_is_given_up(client, user, drain, media_server):
    # GIVEN a queued capture whose message left the queue before any claim
    job_id = capture(client, user, media_server)
    lose_messages()
    # WHEN the maintenance runs within the window: THEN the job is left to its queue
    assert sweep(apply=True, hours_later=1).lost_jobs_resent.found == 0
    # WHEN a dry run, hours later: THEN it reports the job and changes nothing
    before = state()
    dry = sweep(apply=False, hours_later=STALE_HOURS)
    assert (dry.lost_jobs_resent.found, dry.lost_jobs_resent.fixed, dry.lost_jobs_failed.found) == (1, 0, 0)
    assert job_id in dry.lost_jobs_resent.examples[0]
    assert state() == before
    # WHEN it applies: THEN the message is sent again and noted on the job
    applied = sweep(apply=True, hours_later=STALE_HOURS)
    assert (applied.lost_jobs_resent.found, applied.lost_jobs_resent.fixed) == (1, 1)
    job = jobs.get(job_id)
    assert (job.status, job.error_code) == (jobs.QUEUED, jobs.MESSAGE_LOST)
    assert wiring.services().queue.depth()["visible"] == 1
    # WHEN that message is lost too: THEN the next stale run gives the job and its video up
    lose_messages()
    again = sweep(apply=True, hours_later=2 * STALE_HOURS)
    assert (again.lost_jobs_resent.found, again.lost_jobs_failed.found, again.lost_jobs_failed.fixed) == (0, 1, 1)
    job = jobs.get(job_id)
    assert (job.status, job.error_code) == (jobs.FAILED, jobs.MESSAGE_LOST)
    assert videos.get(job.video_id).status == videos.FAILED
    assert wiring.services().queue.depth()["visible"] == 0
    assert drain() == 0


def test_a_resent_message_runs_the_job(client, user, drain, media_server):
    # GIVEN a capture whose message was lost, and sent again by the maintenance
    job_id = capture(client, user, media_server)
    lose_messages()
    sweep(apply=True, hours_later=STALE_HOURS)
    # WHEN the worker runs the queue
    assert drain() == 1
    # THEN the capture is stored
    job = jobs.get(job_id)
    assert job.status == jobs.SUCCEEDED and videos.get(job.video_id).status == videos.READY


def test_a_lost_job_without_attempts_left_is_failed_and_its_reservation_given_back(mocked_aws):
    # GIVEN a job queued after its last attempt, its video holding a reservation, and no message
    owner = seed_user("erin").user_id
    video = video_record(owner, status=videos.PROCESSING)
    job = jobs.new_job(str(uuid.uuid4()), video_id=video.video_id, owner_id=owner, kind="capture",
                       now=datetime.now(UTC))
    job.attempts = wiring.services().settings.max_attempts
    job.save()
    quotas.reserve(owner, 1000)
    video.update(actions=[Video.bytes_reserved.set(1000), Video.job_id.set(job.job_id)])
    # WHEN the maintenance applies, hours later
    report = sweep(apply=True, hours_later=STALE_HOURS)
    # THEN the job is given up at once (no message sent), its video failed and its reservation given back
    assert (report.lost_jobs_resent.found, report.lost_jobs_failed.found, report.lost_jobs_failed.fixed) == (0, 1, 1)
    assert jobs.get(job.job_id).status == jobs.FAILED
    video.refresh()
    assert (video.status, video.error_code, video.bytes_reserved) == (videos.FAILED, jobs.MESSAGE_LOST, 0)
    account = User.get(owner)
    assert account.bytes_reserved == 0 and account.bytes_available == account.quota_bytes - account.bytes_used
    assert wiring.services().queue.depth()["visible"] == 0


def test_a_stuck_job_whose_message_cannot_be_sent_is_put_back_for_the_next_run(mocked_aws):
    # GIVEN a job whose worker died, and a jobs queue that refuses messages
    job = stuck_job(seed_user("frank").user_id, reserved=1000)
    queue = wiring.services().queue
    wiring.override(queue=missing_queue())
    # WHEN the maintenance applies: THEN the failed send is raised
    with pytest.raises(ClientError):
        sweep(apply=True)
    # AND the job is running with its lease over as it was found, not queued with no message
    found = jobs.get(job.job_id)
    assert (found.status, found.error_code, found.lease_until) == (jobs.RUNNING, None, job.lease_until)
    # WHEN the queue answers again: THEN the next run queues it again, with its message
    wiring.override(queue=queue)
    assert sweep(apply=True).stuck_jobs_requeued.fixed == 1
    assert jobs.get(job.job_id).status == jobs.QUEUED
    assert jobs.JobMessage.from_json(queue.receive(wait_seconds=0)[0]["Body"]).job_id == job.job_id


def test_a_rendition_whose_message_cannot_be_sent_may_be_asked_again(mocked_aws):
    # GIVEN a ready 640x480 video, and a jobs queue that refuses messages
    video = video_record(seed_user("gina").user_id)
    video.update(actions=[Video.width.set(640), Video.height.set(480)])
    queue = wiring.services().queue
    wiring.override(queue=missing_queue())
    # WHEN a rendition is asked for: THEN the failed send is raised
    with pytest.raises(ClientError):
        renditions.request(video, "360p", services=wiring.services())
    # AND the entry is failed, not queued for ever, and its job is gone
    entry = videos.get(video.video_id).renditions.as_dict()["360p"]
    assert (entry["status"], entry["error_code"]) == (renditions.FAILED, "not_queued")
    with pytest.raises(NotFoundError):
        jobs.get(entry["job_id"])
    # WHEN the queue answers again: THEN asking again queues the rendition's job
    wiring.override(queue=queue)
    answer = renditions.request(videos.get(video.video_id), "360p", services=wiring.services())
    assert answer["status"] == renditions.QUEUED
    assert jobs.JobMessage.from_json(queue.receive(wait_seconds=0)[0]["Body"]).job_id == answer["job_id"]
