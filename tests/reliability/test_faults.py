"""The fault suite (``make test-reliability``; a shorter run inside ``make test``): workers SIGKILLed during a
download, a transcode and an upload; ten simultaneous captures of one link; captures from a server that fails at
random; a Bot API that answers 429 then 200. Every scenario ends with nothing lost, stuck, duplicated or leaked:
one record per capture, one version per stored object, no temp object, upload or work dir left, counters exact,
the DLQ empty — with no maintenance run."""

from __future__ import annotations

import json
import os
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from chalicelib import capture, wiring
from chalicelib.records import jobs
from chalicelib.records.models import Video
from tests import media as test_media
from tests.reliability.chaos import ChaosServer
from tests.reliability.conftest import LEASE_SECONDS, outcome, report, wait_until

RANDOM_CAPTURES = int(os.environ.get("PRSNL_FAULT_CAPTURES", "24"))  # make test-reliability: 100
UPLOAD_BYTES = 160 * 1024 * 1024
RECOVERY_DEADLINE = 180  # seconds: the documented recovery (lease + a quarter, ~9 s here) with room for a loaded CI


def queue(url: str) -> capture.CaptureResult:
    return capture.capture(url, owner_id="alice", services=wiring.services())


def stage_of(job_id: str) -> str:
    job = jobs.get(job_id)
    return "finished" if job.status in jobs.FINISHED else (job.progress or {}).get("stage", "")


def uploading(video_id: str) -> bool:
    """A multipart upload of the video's file has begun and is not complete."""
    return any(video_id in upload["Key"] for upload in wiring.services().storage.uploads())


@pytest.fixture(scope="module")
def fault_media(media_dir):
    """A 2 MB H.264 file (sent slowly, for downloads), a 20 s VP9 WebM (a transcode of some seconds) and a 160 MB
    H.264 file (a multipart upload of ten parts, long enough to be seen under way)."""
    files = {"download": media_dir / "fault-download.mp4", "transcode": media_dir / "fault-transcode.webm",
             "upload": media_dir / "fault-upload.mp4"}
    if not files["download"].exists():
        test_media.make_clip(files["download"], seconds=8, width=640, height=360)
    if not files["transcode"].exists():
        test_media.ffmpeg("-f", "lavfi", "-i", "testsrc2=size=960x540:rate=30:duration=20", "-f", "lavfi", "-i",
                          "sine=frequency=440:duration=20", "-c:v", "libvpx-vp9", "-deadline", "realtime",
                          "-cpu-used", "8", "-c:a", "libopus", "-shortest", str(files["transcode"]))
    if not files["upload"].exists():
        test_media.make_large(files["upload"], UPLOAD_BYTES, seconds=8, width=1280, height=720)
    return files


@pytest.mark.parametrize("stage", ["downloading", "processing", "uploading"])
def test_a_worker_killed_mid_job_leaves_a_job_that_comes_back_ready(stage, fault_env, workers, media_server,
                                                                    fault_media):
    # GIVEN a capture whose worker is SIGKILLed while it is downloading, transcoding or uploading
    name = {"downloading": "download", "processing": "transcode", "uploading": "upload"}[stage]
    path = fault_media[name]
    url = media_server.url("slow", path.name) + f"?bps={path.stat().st_size // 8}" if stage == "downloading" \
        else media_server.url("files", path.name)
    result = queue(url)
    worker = workers()
    at_stage = (lambda: uploading(result.video.video_id)) if stage == "uploading" else \
        (lambda: stage_of(result.job.job_id) in (stage, "finished"))
    wait_until(at_stage, what=f"the job to reach {stage}")
    assert stage_of(result.job.job_id) != "finished", f"the job finished before the worker could be killed in {stage}"
    worker.kill()
    killed_at = time.monotonic()
    # WHEN another worker starts (the dead one's message reappears once its lease is over)
    workers()
    wait_until(lambda: stage_of(result.job.job_id) == "finished", seconds=RECOVERY_DEADLINE,
               what="the job to come back")
    recovered = round(time.monotonic() - killed_at, 1)
    # THEN it ended ready on its second attempt, and the crash left nothing behind
    job = jobs.get(result.job.job_id)
    end = outcome(1)
    report(f"worker SIGKILLed while {stage}", end, recovered_s=recovered, lease_s=LEASE_SECONDS)
    assert (job.status, job.attempts) == (jobs.SUCCEEDED, 2)
    assert (end.ready, end.lost, end.stuck, end.duplicated, end.leaked) == (1, 0, 0, 0, [])


def test_ten_simultaneous_captures_of_one_link_make_one_record(fault_env, workers, media_server):
    url = media_server.url("files", "clip.mp4")
    services = wiring.services()
    with ThreadPoolExecutor(max_workers=10) as pool:
        results = list(pool.map(lambda _: capture.capture(url, owner_id="alice", services=services), range(10)))
    workers()
    wait_until(lambda: all(stage_of(r.video.job_id) == "finished" for r in results), what="the capture")
    end = outcome(1)
    records = list(Video.scan(consistent_read=True))
    report("10 simultaneous captures of one link", end, records=len(records),
           created=sum(r.created for r in results))
    assert len(records) == 1 and sum(r.created for r in results) == 1
    assert (end.ready, end.lost, end.stuck, end.duplicated, end.leaked) == (1, 0, 0, 0, [])


def test_captures_from_a_server_failing_at_random_all_end_with_a_code(fault_env, workers, media_dir):
    # GIVEN links to a server that answers 5xx, resets, truncates, lies about lengths, serves HTML or stalls
    chaos = ChaosServer(media_dir)
    try:
        results = [queue(chaos.url(n, "clip.mp4")) for n in range(RANDOM_CAPTURES)]
        # WHEN two worker processes run them, with retries and backoff
        workers(), workers()
        wait_until(lambda: all(stage_of(r.job.job_id) == "finished" for r in results), seconds=600,
                   what="every capture to end")
    finally:
        chaos.stop()
    # THEN each ended ready or failed with a code, and nothing is stuck, orphaned, miscounted or dead-lettered
    end = outcome(RANDOM_CAPTURES)
    codes = sorted({v.error_code for v in Video.scan() if v.error_code})
    report("captures from a server failing at random", end, ready=end.ready, codes="/".join(codes))
    assert (end.lost, end.stuck, end.duplicated, end.leaked) == (0, 0, 0, [])
    assert end.ready >= 1 and end.failed_with_code >= 1


def test_a_bot_api_that_answers_429_then_200_loses_no_link(fault_env, workers, media_server, settings_env):
    from chalice.test import Client

    from app import app
    from tests.conftest import TELEGRAM_USER, WEBHOOK_SECRET
    from tests.fake_telegram import TOKEN, FakeBotApi, text_update

    bot_api = FakeBotApi().start()
    try:
        settings_env(PRSNL_TELEGRAM_TOKEN=TOKEN, PRSNL_TELEGRAM_WEBHOOK_SECRET=WEBHOOK_SECRET,
                     PRSNL_TELEGRAM_API_URL=bot_api.url, PRSNL_TELEGRAM_ALLOWED_USERS=str(TELEGRAM_USER))
        headers = {"Content-Type": "application/json", "X-Telegram-Bot-Api-Secret-Token": WEBHOOK_SECRET}
        body = json.dumps(text_update(77, TELEGRAM_USER, media_server.url("files", "clip.mp4")))
        bot_api.flood_control("sendMessage", times=3, retry_after=1)  # the first delivery's every try: 429
        with Client(app, stage_name="local") as client:
            answers = [client.http.post("/telegram/webhook", headers=headers, body=body).status_code
                       for _ in range(2)]  # Telegram delivers again until it gets a 2xx
        workers()
        wait_until(lambda: [v for v in Video.scan() if v.status == "ready"], what="the capture")
        mine = [v for v in Video.scan() if v.owner_id == f"telegram-{TELEGRAM_USER}"]
    finally:
        bot_api.stop()
    end = outcome(1)
    report("Bot API answering 429, then 200", end, deliveries="/".join(map(str, answers)))
    assert answers == [503, 200] and len(mine) == 1
    assert (end.ready, end.lost, end.stuck, end.leaked) == (1, 0, 0, [])
