"""The worker's commit: one transaction marks the video (or rendition) stored, the job succeeded and the quota
settled, so what fails after it cannot remove a stored file or count it twice, and a reservation is given back once.

The real worker on in-process moto, real yt-dlp and ffmpeg against the loopback media server. Failures are real:
a notifier that raises, and the real maintenance reaper taking a job back (its lease over, its work files removed)
while the worker uploads, run from a thin proxy around the real S3 storage installed with ``wiring.override``.
"""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest

from chalicelib import capture, deletion, renditions, wiring
from chalicelib.config import get_settings
from chalicelib.ops import maintenance
from chalicelib.records import jobs, videos
from chalicelib.records.models import Video
from chalicelib.records.users import get_user
from chalicelib.storage.s3 import S3Storage
from chalicelib.telegram.notifier import NullNotifier
from tests.fakes import FakeClock


@pytest.fixture(autouse=True)
def loopback_allowed(settings_env, work_dir):
    settings_env(PRSNL_ALLOW_LOOPBACK_URLS="true", PRSNL_RETRY_BACKOFF_SECONDS="0")


class FailingChat(NullNotifier):
    """The chat is down when the video is ready."""

    def ready(self, job, video, thumbnail=None) -> None:
        raise ConnectionError("api.telegram.org is unreachable")


class AfterUpload:
    """The real S3 storage, except that ``step`` runs once, right after the upload of a key containing ``marker``."""

    def __init__(self, marker: str, step):
        self.storage = S3Storage(get_settings().bucket)
        self.marker, self.step, self.ran = marker, step, False

    def __getattr__(self, name):
        return getattr(self.storage, name)

    def put_file(self, path, key: str) -> int:
        size = self.storage.put_file(path, key)
        if not self.ran and self.marker in key:
            self.ran = True
            self.step()
        return size


def reaper(reports: list):
    """A step: the real maintenance an hour later (the lease is over: the reaper takes the job back)."""
    later = wiring.Services(get_settings(), clock=FakeClock(later=timedelta(hours=1)))
    return lambda: reports.append(maintenance.run(services=later, apply=True))


LAST_UPLOAD = "_large.jpg"  # a capture's uploads: the video, then its small, medium and large thumbnails


def queue(url: str) -> capture.CaptureResult:
    return capture.capture(url, owner_id="alice", services=wiring.services())


def assert_stored_and_counted_once(video_id: str) -> Video:
    """Every object the record names is in the bucket, and the record and the owner's counters hold exactly the
    bytes of those objects."""
    video = videos.get(video_id)
    stored = {obj["Key"]: obj["Size"] for obj in wiring.services().storage.list("")}
    sizes = video.object_sizes.as_dict()
    assert sizes == {key: stored.get(key) for key in sizes}
    assert videos.stored_keys(video) == set(sizes)
    assert video.bytes_stored == sum(sizes.values())
    owner = get_user("alice")
    assert (owner.bytes_used, owner.bytes_reserved, owner.video_count) == (video.bytes_stored, 0, 1)
    assert owner.bytes_available == owner.quota_bytes - video.bytes_stored
    return video


def test_chat_failing_after_the_commit_leaves_the_video_stored_and_counted_once(user, drain, media_server):
    # GIVEN a chat that cannot be told
    wiring.override(notifier=FailingChat())
    result = queue(media_server.url("files", "clip.mp4"))
    # WHEN the worker runs the capture
    drain()
    # THEN the job succeeded at its first attempt and the video kept its files and was counted once
    job = jobs.get(result.job.job_id)
    assert (job.status, job.attempts) == (jobs.SUCCEEDED, 1)
    assert assert_stored_and_counted_once(result.video.video_id).status == videos.READY


def test_job_taken_back_before_its_commit_is_stored_and_counted_once(user, drain, media_server):
    # GIVEN the reaper takes the job back once the worker uploaded everything, just before its commit
    reports = []
    wiring.override(storage=AfterUpload(LAST_UPLOAD, reaper(reports)))
    result = queue(media_server.url("files", "clip.mp4"))
    # WHEN the queue is drained (the reaper queued the job again)
    drain()
    # THEN the taken-back attempt committed nothing, the next one stored the video, counted once
    assert reports[0].stuck_jobs_requeued.fixed == 1
    job = jobs.get(result.job.job_id)
    assert (job.status, job.attempts) == (jobs.SUCCEEDED, 2)
    assert assert_stored_and_counted_once(result.video.video_id).status == videos.READY


def test_reservation_given_back_by_the_reaper_is_not_given_back_again_by_the_failing_attempt(user, drain,
                                                                                          media_server):
    # GIVEN the reaper takes the job back (and gives its reservation back) after the video's upload: the attempt's
    # next upload fails, its work files are gone
    reports = []
    wiring.override(storage=AfterUpload("videos/", reaper(reports)))
    result = queue(media_server.url("files", "clip.mp4"))
    # WHEN the queue is drained
    drain()
    # THEN the reservation was given back once: the counters hold exactly the stored video
    assert reports[0].stuck_jobs_requeued.fixed == 1
    assert jobs.get(result.job.job_id).status == jobs.SUCCEEDED
    assert videos.get(result.video.video_id).bytes_reserved == 0
    assert_stored_and_counted_once(result.video.video_id)


def test_rendition_taken_back_before_its_commit_is_stored_and_counted_once(user, drain, clip480_url):
    # GIVEN a stored video, and the reaper taking its 360p rendition job back while the worker uploads it
    video_id = queue(clip480_url).video.video_id
    drain()
    reports = []
    wiring.override(storage=AfterUpload("_360p", reaper(reports)))
    answer = renditions.request(videos.get(video_id), "360p", services=wiring.services())
    # WHEN the queue is drained
    drain()
    # THEN the rendition is ready with its file, and its bytes were counted once
    assert reports[0].stuck_jobs_requeued.fixed == 1
    assert (jobs.get(answer["job_id"]).status, jobs.get(answer["job_id"]).attempts) == (jobs.SUCCEEDED, 2)
    video = assert_stored_and_counted_once(video_id)
    assert video.renditions.as_dict()["360p"]["status"] == renditions.READY


def test_video_deleted_while_it_uploads_gives_every_byte_back_once(user, drain, media_server):
    # GIVEN the owner deletes the capture once the worker uploaded everything, just before its commit
    result = queue(media_server.url("files", "clip.mp4"))
    wiring.override(storage=AfterUpload(LAST_UPLOAD, lambda: deletion.delete(
        result.video.video_id, owner_id="alice", services=wiring.services())))
    # WHEN the queue is drained
    drain()
    # THEN nothing is stored and the quota is whole again (the delete gave the reservation back, the worker not)
    owner = get_user("alice")
    assert (owner.bytes_used, owner.bytes_reserved, owner.video_count) == (0, 0, 0)
    assert owner.bytes_available == owner.quota_bytes
    assert not list(wiring.services().storage.list("videos/"))
    assert not list(wiring.services().storage.list("thumbnails/"))


def next_attempt_in_another_worker(drain, reports: list, *, to_its_end: bool = True):
    """A step: the reaper takes the job back, then another worker starts the next attempt (and runs it to its end,
    unless ``to_its_end`` is False: its thread is then the last of ``reports``)."""
    take_back = reaper(reports)

    def step() -> None:
        take_back()
        worker = threading.Thread(target=drain, kwargs={"max_batches": 1}, name="next-attempt")
        worker.start()
        if to_its_end:
            worker.join()
        reports.append(worker)

    return step


def test_an_attempt_taken_back_after_its_uploads_leaves_the_next_attempts_stored_video(user, drain, media_server):
    # GIVEN the reaper takes the job back once the worker uploaded everything, and the next attempt runs to its end
    # in another worker before the first one commits (both attempts upload to the same keys)
    reports = []
    wiring.override(storage=AfterUpload(LAST_UPLOAD, next_attempt_in_another_worker(drain, reports)))
    result = queue(media_server.url("files", "clip.mp4"))
    # WHEN the first attempt goes on to its commit
    drain(max_batches=1)
    # THEN its commit was refused and it removed nothing: the video the next attempt stored is whole, counted once
    job = jobs.get(result.job.job_id)
    assert (job.status, job.attempts) == (jobs.SUCCEEDED, 2)
    assert assert_stored_and_counted_once(result.video.video_id).status == videos.READY


class PausesTheNextAttemptsVideoUpload(AfterUpload):
    """``AfterUpload``, and the next attempt's worker waits before its video upload until ``resume`` is set."""

    def __init__(self, step):
        super().__init__(LAST_UPLOAD, step)
        self.waiting, self.resume = threading.Event(), threading.Event()

    def put_file(self, path, key: str) -> int:
        if threading.current_thread().name == "next-attempt" and key.startswith("videos/"):
            self.waiting.set()
            self.resume.wait(120)
        return super().put_file(path, key)


def test_an_attempt_taken_back_cannot_commit_while_the_next_attempt_runs(user, drain, media_server):
    # GIVEN the reaper takes the job back once the worker uploaded everything, and the next attempt is running
    reports = []
    start_next = next_attempt_in_another_worker(drain, reports, to_its_end=False)
    storage = PausesTheNextAttemptsVideoUpload(lambda: (start_next(), storage.waiting.wait(120)))
    wiring.override(storage=storage)
    result = queue(media_server.url("files", "clip.mp4"))
    # WHEN the first attempt goes on to its commit, then the next attempt goes on to its own
    drain(max_batches=1)
    first = jobs.get(result.job.job_id)
    storage.resume.set()
    reports[-1].join(120)
    # THEN the first attempt could not commit the job the next one held; the next one stored the video, counted once
    assert (first.status, first.attempts) == (jobs.RUNNING, 2)
    job = jobs.get(result.job.job_id)
    assert (job.status, job.attempts) == (jobs.SUCCEEDED, 2)
    assert assert_stored_and_counted_once(result.video.video_id).status == videos.READY
