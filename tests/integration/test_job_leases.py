"""A running job's lease: renewed while its worker lives (no second delivery runs it), and after a worker died,
the redelivery claims the job and first gives back everything the dead attempt held (its reservation exactly once,
its work dir, its temp objects and unfinished multipart uploads), so the counters equal the bytes stored with no
maintenance run. The real worker handler and local worker loop on in-process moto, real yt-dlp and ffmpeg."""

from __future__ import annotations

import threading
import time
from datetime import timedelta

import pytest

from chalicelib import aws, capture, wiring
from chalicelib.config import get_settings
from chalicelib.local import worker_loop
from chalicelib.ops import maintenance
from chalicelib.records import jobs, quotas, videos
from chalicelib.records.users import get_user
from chalicelib.storage import layout
from chalicelib.telegram.notifier import NullNotifier
from tests import media as test_media
from tests.fakes import FakeClock

MB = 1024 * 1024


@pytest.fixture(autouse=True)
def loopback_allowed(settings_env, work_dir):
    settings_env(PRSNL_ALLOW_LOOPBACK_URLS="true")


def queue(url: str) -> capture.CaptureResult:
    return capture.capture(url, owner_id="alice", services=wiring.services())


def wait_for(check, *, seconds: float = 120, what: str) -> None:
    deadline = time.monotonic() + seconds
    while not check():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.1)


def test_a_job_running_longer_than_its_lease_keeps_it_and_runs_once(user, media_server, media_dir, settings_env):
    # GIVEN a 2 s lease (its message hidden 7 s past each renewal) and a download that takes about 10 s
    settings_env(PRSNL_JOB_LEASE_SECONDS="2")
    test_media.make_clip(media_dir / "lease-slow.mp4", seconds=6, width=640, height=360)
    size = (media_dir / "lease-slow.mp4").stat().st_size
    result = queue(media_server.url("slow", "lease-slow.mp4") + f"?bps={size // 10}")
    # WHEN the local worker loop serves the queue with two workers, so a second delivery would be taken at once
    stop = threading.Event()
    loop = threading.Thread(target=worker_loop.serve, args=(wiring.services().queue,),
                            kwargs={"concurrency": 2, "stop": stop, "poll_seconds": 1})
    loop.start()
    try:
        wait_for(lambda: jobs.get(result.job.job_id).status in jobs.FINISHED, what="the job to finish")
    finally:
        stop.set()
        loop.join()
    # THEN the lease was renewed all along: one attempt, ready
    job = jobs.get(result.job.job_id)
    assert (job.status, job.attempts) == (jobs.SUCCEEDED, 1)
    assert videos.get(result.video.video_id).status == videos.READY


def test_the_redelivery_after_a_dead_attempt_gives_back_what_it_held(user, drain, media_server, work_dir):
    # GIVEN a capture whose first attempt died mid-way: it had claimed the job (lease now over), reserved 80 MB,
    # filled a work dir, put a temp object and begun a multipart upload of the video's file
    result = queue(media_server.url("files", "clip.mp4"))
    services, video = wiring.services(), result.video
    now = services.clock.now()
    job = jobs.get(result.job.job_id)
    assert jobs.claim(job, now=now - timedelta(minutes=10), lease_until=now - timedelta(minutes=8))
    quotas.reserve("alice", 80 * MB)
    assert videos.reserve(videos.get(video.video_id), 80 * MB)
    (work_dir / f"prsnl-{job.job_id}-dead").mkdir()
    (work_dir / f"prsnl-{job.job_id}-dead" / "media.mp4").write_bytes(b"x" * 1000)
    s3, bucket = aws.client("s3"), services.settings.bucket
    s3.put_object(Bucket=bucket, Key=layout.temp_prefix(job.job_id) + "part-1", Body=b"x")
    s3.create_multipart_upload(Bucket=bucket, Key=layout.video_key(video.video_id, video.created_at))
    assert get_user("alice").bytes_reserved == 80 * MB
    # WHEN its message comes back and the worker runs it
    assert drain() == 1
    # THEN the second attempt stored the video, and the counters are exactly the bytes stored: nothing held back
    job, stored = jobs.get(job.job_id), videos.get(video.video_id)
    assert (job.status, job.attempts, stored.status) == (jobs.SUCCEEDED, 2, videos.READY)
    owner = get_user("alice")
    assert (owner.bytes_used, owner.bytes_reserved, owner.video_count) == (stored.bytes_stored, 0, 1)
    assert owner.bytes_available == owner.quota_bytes - stored.bytes_stored
    # AND nothing of the dead attempt is left: no work dir, no temp object, no unfinished upload
    assert not any(work_dir.iterdir())
    assert not list(services.storage.list(layout.TEMP_PREFIX))
    assert not list(services.storage.uploads())


def test_the_dead_attempts_reservation_goes_back_once_when_the_reaper_got_there_first(user, drain, media_server):
    # GIVEN a dead attempt's 80 MB reservation that the reaper already gave back with the job queued again
    result = queue(media_server.url("files", "clip.mp4"))
    video = videos.get(result.video.video_id)
    quotas.reserve("alice", 80 * MB)
    assert videos.reserve(video, 80 * MB)
    assert quotas.give_back_held(jobs.get(result.job.job_id), video, now=wiring.services().clock.now())
    # WHEN the worker runs the job
    drain()
    # THEN nothing was given back twice: the counters are the stored bytes
    owner, stored = get_user("alice"), videos.get(video.video_id)
    assert (owner.bytes_used, owner.bytes_reserved) == (stored.bytes_stored, 0)
    assert owner.bytes_available == owner.quota_bytes - stored.bytes_stored


class ReaperWhileDownloading(NullNotifier):
    """The real maintenance an hour later, told of the download's start: the attempt is alive, but its lease looks
    over (its renewals failed), so the reaper takes the job back and queues it again."""

    def __init__(self):
        self.reports = []

    def progress(self, job, state) -> None:
        if state["stage"] == "downloading" and not self.reports:
            later = wiring.Services(get_settings(), clock=FakeClock(later=timedelta(hours=1)))
            self.reports.append(maintenance.run(services=later, apply=True))


def test_an_attempt_taken_back_while_alive_leaves_the_job_to_the_next_attempt(user, drain, media_server):
    # GIVEN the reaper takes the job back while its worker downloads (and, on this machine, removes the work dir the
    # download writes to: the living attempt then fails for good)
    chat = ReaperWhileDownloading()
    wiring.override(notifier=chat)
    result = queue(media_server.url("files", "clip.mp4"))
    # WHEN the queue is drained: the taken-back attempt stops, the reaper's message brings the next one
    drain()
    # THEN the stopped attempt did not fail the job queued again: the next attempt stored the video
    assert chat.reports[0].stuck_jobs_requeued.fixed == 1
    job = jobs.get(result.job.job_id)
    assert (job.status, job.attempts) == (jobs.SUCCEEDED, 2)
    assert videos.get(result.video.video_id).status == videos.READY
    owner = get_user("alice")
    assert (owner.bytes_reserved, owner.bytes_used) == (0, videos.get(result.video.video_id).bytes_stored)
