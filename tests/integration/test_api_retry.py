"""Retrying a failed capture through the real app and the real worker: the same video id with a new job, the quota
reserved again and given back when the try fails too, nothing left behind; capturing the link again does the same."""

from __future__ import annotations

import shutil
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor

import pytest

from chalicelib import aws, capture, wiring
from chalicelib.queue import SqsJobQueue
from chalicelib.records import jobs, quotas, videos
from chalicelib.records.models import Job, User, Video, VideoSource
from tests.api_calls import capture as post_capture
from tests.api_calls import get
from tests.conftest import seed_user


@pytest.fixture(autouse=True)
def loopback_allowed(settings_env):
    settings_env(PRSNL_ALLOW_LOOPBACK_URLS="true")


@pytest.fixture
def missing_file(media_dir, media_server):
    """A link that answers 404 until the test puts a file at it: ``put(sample)``."""
    name = f"later-{uuid.uuid4().hex}.mp4"

    class Later:
        url = media_server.url("files", name)
        slow_url = media_server.url("slow", name) + "?bps=100000"

        @staticmethod
        def put(sample: str) -> None:
            shutil.copy(media_dir / sample, media_dir / name)

    yield Later
    (media_dir / name).unlink(missing_ok=True)


def failed_capture(client, user, drain, url: str) -> dict:
    answer = post_capture(client, user, url).json_body
    assert drain() == 1
    video = get(client, user, f"/api/videos/{answer['video_id']}").json_body
    assert video["status"] == "failed", video
    return video


def retry(client, user, video_id: str):
    return client.http.post(f"/api/videos/{video_id}/retry", headers=user.headers)


def bucket_keys() -> list[str]:
    s3 = aws.client("s3")
    return [o["Key"] for o in s3.list_objects_v2(Bucket=wiring.services().settings.bucket).get("Contents", [])]


def counters(user_id: str) -> tuple[int, int, int, int]:
    owner = User.get(user_id)
    return owner.bytes_used, owner.bytes_reserved, owner.bytes_available, owner.video_count


def test_a_failed_capture_retried_is_the_same_video_with_a_new_job(client, user, drain, missing_file):
    # GIVEN a capture that failed: its link answered 404
    failed = failed_capture(client, user, drain, missing_file.url)
    assert failed["error_code"] == "not_found"
    # WHEN the file is there and the video is retried
    missing_file.put("clip.mp4")
    response = retry(client, user, failed["video_id"])
    # THEN it is queued again under the same id with a new job; the failed job and its error are gone
    assert response.status_code == 202, response.json_body
    answer = response.json_body
    assert answer["video_id"] == failed["video_id"] and answer["status"] == "queued"
    assert answer["job_id"] != failed["job_id"] and "error_code" not in answer["video"]
    assert [job.job_id for job in Job.scan()] == [answer["job_id"]]
    # AND the worker makes it ready; one record holds the link, and the quota holds exactly its bytes
    assert drain() == 1
    video = videos.get(failed["video_id"])
    assert video.status == videos.READY and video.job_id == answer["job_id"]
    assert get(client, user, f"/api/jobs/{answer['job_id']}").json_body["status"] == jobs.SUCCEEDED
    assert [v.video_id for v in Video.scan()] == [video.video_id]
    assert VideoSource.get(video.owner_source).video_id == video.video_id
    assert counters(user.user_id) == (video.bytes_stored, 0, User.get(user.user_id).quota_bytes - video.bytes_stored,
                                      1)
    assert sorted(bucket_keys()) == sorted(videos.stored_keys(video))


def test_a_retry_reserves_the_quota_again_while_it_runs(client, user, drain, missing_file):
    # GIVEN a failed capture of a link that is slow once the file is there
    failed = failed_capture(client, user, drain, missing_file.slow_url)
    missing_file.put("clip.mp4")
    assert retry(client, user, failed["video_id"]).status_code == 202
    # WHEN the worker runs it
    worker = threading.Thread(target=drain)
    worker.start()
    try:
        # THEN while it downloads, its bytes are reserved on the video and on the owner
        deadline = time.monotonic() + 60
        while (reserved := videos.get(failed["video_id"]).bytes_reserved) == 0 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert reserved > 0 and User.get(user.user_id).bytes_reserved >= reserved
    finally:
        worker.join(timeout=120)
    # AND once stored the reservation became the stored bytes
    video = videos.get(failed["video_id"])
    assert video.status == videos.READY
    assert counters(user.user_id)[:2] == (video.bytes_stored, 0)


def test_a_retry_that_fails_again_gives_its_reservation_back_and_leaves_nothing(client, user, drain, missing_file):
    # GIVEN a failed capture whose link now serves a damaged file (the worker reserves, downloads, then fails)
    failed = failed_capture(client, user, drain, missing_file.url)
    missing_file.put("corrupt.mp4")
    before = counters(user.user_id)
    # WHEN it is retried and the worker runs it
    job_id = retry(client, user, failed["video_id"]).json_body["job_id"]
    assert drain() == 1
    # THEN it failed for the new reason, the counters are as before, and no record or object is left over
    video = videos.get(failed["video_id"])
    assert (video.status, video.error_code, video.job_id, video.bytes_reserved) == ("failed", "invalid_media",
                                                                                   job_id, 0)
    assert counters(user.user_id) == before == (0, 0, User.get(user.user_id).quota_bytes, 0)
    assert [job.job_id for job in Job.scan()] == [job_id] and Video.count() == 1
    assert bucket_keys() == []
    # AND it can be retried once more
    assert retry(client, user, failed["video_id"]).status_code == 202


def test_only_a_failed_video_of_ones_own_can_be_retried(client, user, other_user, drain, missing_file,
                                                        media_server):
    ready = post_capture(client, user, media_server.url("files", "clip.mp4")).json_body
    assert drain() == 1
    failed = failed_capture(client, user, drain, missing_file.url)
    # a ready video: 409 with the error body, and nothing changes
    response = retry(client, user, ready["video_id"])
    assert response.status_code == 409
    assert response.json_body["error"]["code"] == "not_failed" and "ready" in response.json_body["error"]["message"]
    assert videos.get(ready["video_id"]).job_id == ready["job_id"]
    # someone else's failed video answers exactly like a missing one
    theirs, missing = retry(client, other_user, failed["video_id"]), retry(client, user, "no-such-video")
    assert (theirs.status_code, missing.status_code) == (404, 404)
    assert theirs.json_body["error"]["code"] == missing.json_body["error"]["code"] == "not_found"
    assert videos.get(failed["video_id"]).status == videos.FAILED
    # and a caller without a key is refused
    assert client.http.post(f"/api/videos/{failed['video_id']}/retry").status_code == 401


def test_a_retry_is_refused_when_the_quota_is_used_up(client, drain, missing_file):
    owner = seed_user("carol", quota_bytes=10 * 1024**2)
    failed = failed_capture(client, owner, drain, missing_file.url)
    quotas.settle(owner.user_id, reserved=0, actual=10 * 1024**2)  # the quota is full now
    response = retry(client, owner, failed["video_id"])
    assert response.status_code == 413 and response.json_body["error"]["code"] == "quota_exceeded"
    video = videos.get(failed["video_id"])
    assert (video.status, video.job_id) == (videos.FAILED, failed["job_id"]) and Job.count() == 1
    assert drain() == 0


def test_a_retry_whose_job_cannot_be_queued_is_taken_back(client, user, drain, missing_file):
    # GIVEN a failed capture, and a queue that refuses every message
    failed = failed_capture(client, user, drain, missing_file.url)
    wiring.override(queue=SqsJobQueue("prsnl-local-no-such-queue"))
    # WHEN it is retried
    response = retry(client, user, failed["video_id"])
    # THEN the caller is told, the video is failed again (retryable), and the job nobody would run is gone
    assert (response.status_code, response.json_body["error"]["code"]) == (503, "unavailable")
    video = videos.get(failed["video_id"])
    assert (video.status, video.error_code) == (videos.FAILED, capture.QUEUE_UNAVAILABLE)
    assert Job.count() == 0 and Video.count() == 1


def test_capturing_a_failed_link_again_reuses_its_record(client, user, drain, missing_file):
    # GIVEN a capture that failed
    failed = failed_capture(client, user, drain, missing_file.url)
    missing_file.put("clip.mp4")
    # WHEN the same link is captured again, with a title this time
    response = post_capture(client, user, missing_file.url, title="Second try")
    # THEN it is the same video queued with a new job (202, created), not a second record beside the failed one
    assert response.status_code == 202
    answer = response.json_body
    assert answer["created"] is True and answer["video_id"] == failed["video_id"]
    assert answer["job_id"] != failed["job_id"] and answer["video"]["title"] == "Second try"
    assert [job.job_id for job in Job.scan()] == [answer["job_id"]]
    assert drain() == 1
    assert [(v.video_id, v.status) for v in Video.scan()] == [(failed["video_id"], videos.READY)]


def test_simultaneous_retries_queue_the_video_once(user, drain, missing_file, client):
    failed = failed_capture(client, user, drain, missing_file.url)
    missing_file.put("clip.mp4")
    services = wiring.services()

    def one(_):
        try:
            return capture.retry(failed["video_id"], owner_id=user.user_id, services=services).job.job_id
        except capture.ConflictError as error:
            return error.code

    with ThreadPoolExecutor(max_workers=8) as pool:
        outcomes = list(pool.map(one, range(8)))
    queued = [outcome for outcome in outcomes if outcome != "not_failed"]
    assert len(queued) == 1 and outcomes.count("not_failed") == 7
    assert [job.job_id for job in Job.scan()] == queued
    assert drain() == 1 and videos.get(failed["video_id"]).status == videos.READY
    assert counters(user.user_id)[1] == 0


def test_the_failed_attempt_cannot_fail_the_video_again_once_it_is_retried(client, user, drain, missing_file):
    # GIVEN a failed capture's job as its worker knew it, and the video retried since
    failed = failed_capture(client, user, drain, missing_file.url)
    earlier = jobs.get(failed["job_id"])
    assert retry(client, user, failed["video_id"]).status_code == 202
    # WHEN that earlier attempt (a wedged worker, the reaper) gives its verdict late
    video = videos.get(failed["video_id"])
    late = videos.fail_for_job(video, earlier, now=wiring.services().clock.now(), code="transient", message="late")
    # THEN the retried video is left queued for its new job
    assert late is False and videos.get(failed["video_id"]).status == videos.QUEUED
