"""Delivery: progress while a slow server sends, transient failures retried through SQS with backoff,
permanent ones at once, the DLQ after the last attempt, partial batch failures, duplicate deliveries.

The real worker handler on in-process moto SQS (with the DLQ redrive the bootstrap declares), real
yt-dlp against the loopback media server. Backoff is 0 s in tests so redeliveries are immediate.
"""

from __future__ import annotations

import threading
import time
import uuid

import pytest
import yt_dlp

from chalicelib import aws, capture, platforms, wiring, worker
from chalicelib.local import worker_loop
from chalicelib.records import jobs, videos
from chalicelib.records.users import get_user
from tests import fakes
from tests import media as test_media


@pytest.fixture(autouse=True)
def loopback_allowed(settings_env, work_dir):
    settings_env(PRSNL_ALLOW_LOOPBACK_URLS="true")


def queue(url: str) -> capture.CaptureResult:
    return capture.capture(url, owner_id="alice", services=wiring.services())


def dlq_bodies(mocked_aws) -> list[str]:
    answer = aws.client("sqs").receive_message(QueueUrl=mocked_aws["dlq"], MaxNumberOfMessages=10)
    return [m["Body"] for m in answer.get("Messages", [])]


def test_progress_readable_through_the_api_while_a_slow_server_sends(client, user, drain, media_server, media_dir,
                                                                     settings_env):
    # GIVEN a 1.4 MB file sent at 400 kB/s and progress written at most once a second
    test_media.make_clip(media_dir / "slow-progress.mp4", seconds=6, width=640, height=360)
    settings_env(PRSNL_PROGRESS_INTERVAL_SECONDS="1")
    result = queue(media_server.url("slow", "slow-progress.mp4") + "?bps=400000")
    # WHEN the worker runs while the owner polls GET /api/jobs/{id}
    runner = threading.Thread(target=drain)
    started = time.monotonic()
    runner.start()
    seen = []
    while runner.is_alive():
        body = client.http.get(f"/api/jobs/{result.job.job_id}", headers=user.headers).json_body
        if body["progress"] not in seen:
            seen.append(body["progress"])
        time.sleep(0.05)
    runner.join()
    elapsed = time.monotonic() - started
    # THEN download progress carried every figure, moved forward, and was written about once a second at most (the
    # short stages after it can end between two looks: test_telegram_webhook sees each stage written, in order)
    downloading = [p for p in seen if p["stage"] == "downloading"]
    assert len(downloading) >= 2
    assert set(downloading[-1]) >= {"stage", "percent", "bytes", "total", "speed", "eta"}
    assert [p["bytes"] for p in downloading] == sorted(p["bytes"] for p in downloading)
    assert len(downloading) <= elapsed + 1
    # AND the slow capture ended ready
    assert jobs.get(result.job.job_id).status == jobs.SUCCEEDED


def test_server_failing_twice_then_working_ends_ready_on_the_third_attempt(user, drain, media_server, work_dir):
    result = queue(media_server.url("flaky", f"{uuid.uuid4().hex}/2/clip.mp4"))
    drain()
    job = jobs.get(result.job.job_id)
    assert (job.status, job.attempts) == (jobs.SUCCEEDED, 3)
    assert (job.error_code, job.error_message) == (None, None), "no stale error of the failed attempts"
    video = videos.get(result.video.video_id)
    assert (video.status, video.error_code, video.error_message) == (videos.READY, None, None)
    assert not any(work_dir.iterdir())


def test_body_cut_mid_download_is_resumed_by_yt_dlp_in_one_attempt(user, drain, media_server, media_dir):
    # GIVEN a server that drops the connection halfway through every body not asked for with Range
    test_media.make_clip(media_dir / "cut-once.mp4", seconds=2)
    result = queue(media_server.url("cut", "cut-once.mp4"))
    # WHEN the worker runs it
    drain()
    # THEN yt-dlp resumed by itself (it called our backoff with its keyword): ready in one attempt of ours
    job = jobs.get(result.job.job_id)
    assert (job.status, job.attempts) == (jobs.SUCCEEDED, 1)
    assert videos.get(result.video.video_id).status == videos.READY
    assert media_server.hits("/cut/cut-once.mp4") >= 2


def test_hls_fragment_answering_503_once_is_retried_by_yt_dlp_in_one_attempt(user, drain, media_server, media_dir):
    # GIVEN an HLS stream whose every fragment answers 503 the first time it is asked for
    if not (media_dir / "retry-hls").exists():
        test_media.make_hls(media_dir / "retry-hls", seconds=3)
    key = uuid.uuid4().hex
    result = queue(media_server.url("fragfail", f"{key}/retry-hls/index.m3u8"))
    # WHEN the worker runs it
    drain()
    # THEN yt-dlp's fragment retries fetched each fragment again: ready in one attempt of ours
    job = jobs.get(result.job.job_id)
    assert (job.status, job.attempts) == (jobs.SUCCEEDED, 1)
    fragments = {path: n for path, n in media_server.state["hits"].items()
                 if path.startswith(f"/fragfail/{key}/") and path.endswith(".ts")}
    assert fragments and all(n == 2 for n in fragments.values())


def test_server_always_failing_fails_the_job_and_leaves_the_dlq_to_what_nothing_handled(mocked_aws, user, drain,
                                                                                       media_server, work_dir):
    # GIVEN a link whose server always answers 503
    result = queue(media_server.url("fail", "clip.mp4"))
    # WHEN the queue is drained (each failed delivery comes back after its backoff)
    drain()
    # THEN it was tried max_attempts times, the job and video are failed with the reason
    job = jobs.get(result.job.job_id)
    assert (job.status, job.attempts, job.error_code) == (jobs.FAILED, 3, "transient")
    assert "503" in job.error_message
    assert videos.get(result.video.video_id).error_code == "transient"
    # AND the handled message is not in the DLQ (a failed job is an answer), and nothing is left: no object, no
    # temp dir, no reservation
    assert dlq_bodies(mocked_aws) == []
    assert not list(wiring.services().storage.list(""))
    assert not any(work_dir.iterdir())
    assert get_user("alice").bytes_reserved == 0


def test_batch_with_one_bad_message_does_not_redeliver_the_good_one(mocked_aws, user, drain, media_server,
                                                                    lambda_context):
    # GIVEN a batch of two records: one that works and one whose server fails
    good = queue(media_server.url("files", "clip.mp4"))
    bad = queue(media_server.url("fail", "clip.mp4"))
    sqs_queue = wiring.services().queue
    messages = sqs_queue.receive(max_messages=10, wait_seconds=0)
    assert len(messages) == 2
    event = worker_loop.to_lambda_event(messages, worker_loop.queue_arn(sqs_queue), "us-east-1")
    # WHEN the worker handler gets the batch
    response = worker.handler(event, lambda_context)
    # THEN only the bad record is reported failed
    bad_id = next(m["MessageId"] for m in messages if bad.job.job_id in m["Body"])
    assert response == {"batchItemFailures": [{"itemIdentifier": bad_id}]}
    # AND, once the event source mapping deleted the rest, only the bad one comes back
    for message in messages:
        if message["MessageId"] != bad_id:
            sqs_queue.delete(message["ReceiptHandle"])
    drain()
    assert (jobs.get(good.job.job_id).status, jobs.get(good.job.job_id).attempts) == (jobs.SUCCEEDED, 1)
    assert (jobs.get(bad.job.job_id).status, jobs.get(bad.job.job_id).attempts) == (jobs.FAILED, 3)


def test_message_delivered_twice_is_processed_once(user, drain, media_server, lambda_context):
    # GIVEN the same job message sent three times
    result = queue(media_server.url("files", "clip.mp4"))
    sqs_queue = wiring.services().queue
    message = jobs.JobMessage(result.job.job_id, result.video.video_id, "alice")
    sqs_queue.send(message)
    sqs_queue.send(message)
    deliveries = sqs_queue.receive(max_messages=10, wait_seconds=0)
    arn = worker_loop.queue_arn(sqs_queue)
    # WHEN two deliveries run at the same time, and the third after them
    threads = [threading.Thread(target=worker_loop.run_batch, args=(sqs_queue, arn, [d])) for d in deliveries[:2]]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    late = worker.handler(worker_loop.to_lambda_event(deliveries[2:], arn, "us-east-1"), lambda_context)
    # THEN the job ran once, every delivery was acknowledged, and the video was stored and counted once
    assert late == {"batchItemFailures": []}
    assert jobs.get(result.job.job_id).attempts == 1
    assert jobs.get(result.job.job_id).status == jobs.SUCCEEDED
    assert get_user("alice").video_count == 1
    assert len(list(wiring.services().storage.list("videos/"))) == 1
    assert drain() == 0


def test_a_message_no_worker_can_handle_ends_in_the_dlq(mocked_aws, user, drain):
    # GIVEN a message on the jobs queue that is not a job message at all
    aws.client("sqs").send_message(QueueUrl=mocked_aws["jobs"], MessageBody="not a job message")
    # WHEN the worker tries it until its deliveries are used up
    drain()
    # THEN it is the DLQ's (the alarm on the DLQ's depth now means something)
    assert dlq_bodies(mocked_aws) == ["not a job message"]


def queue_platform_link(url: str) -> capture.CaptureResult:
    """A platform's link, recorded without the API's DNS check (this machine cannot resolve the platforms)."""
    return capture.capture_resolved(platforms.resolve(url), url, owner_id="alice", services=wiring.services(),
                                    source="api")


def test_a_bot_check_is_retried_once_later_then_says_what_helps(user, drain):
    # GIVEN YouTube answering every probe with its bot check
    failing = fakes.FailingDownloader(yt_dlp.utils.ExtractorError(
        "[youtube] jNQXAC9IVRw: Sign in to confirm you're not a bot. Use --cookies-from-browser or --cookies"))
    wiring.override(downloader=failing)
    result = queue_platform_link("https://www.youtube.com/watch?v=jNQXAC9IVRw")
    # WHEN the queue is drained
    drain()
    # THEN it was tried twice, not max_attempts times, and the owner reads what helps
    job = jobs.get(result.job.job_id)
    assert (job.status, job.attempts, job.error_code, failing.probes) == (jobs.FAILED, 2, "bot_check", 2)
    assert "What helps: YouTube cookies" in job.error_message
    assert "--cookies" not in job.error_message and "we will try again" not in job.error_message
    assert videos.get(result.video.video_id).error_message == job.error_message


def test_an_unexpected_exception_reaches_the_owner_as_ours_with_a_reference(client, user, drain):
    # GIVEN a bug of ours under the probe
    wiring.override(downloader=fakes.FailingDownloader(TypeError("'NoneType' object is not subscriptable")))
    result = queue_platform_link("https://www.youtube.com/watch?v=jNQXAC9IVRw")
    # WHEN the queue is drained
    drain()
    # THEN the job failed as internal, with a reference and without the Python details
    body = client.http.get(f"/api/jobs/{result.job.job_id}", headers=user.headers).json_body
    assert body["status"] == jobs.FAILED
    assert body["error_code"] == "internal"
    assert body["error_message"].startswith("Something went wrong on our side (reference ")
    assert "TypeError" not in str(body) and "NoneType" not in str(body)
