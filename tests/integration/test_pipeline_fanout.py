"""A long transcode fanned out into segment jobs: a 20-minute VP9 capture split, encoded part by part by the real
worker handler (draining the moto queue), joined by the last segment and stored whole and in sync; a segment that
fails for good fails its capture with nothing left behind.

Real yt-dlp and ffmpeg against the loopback media server, S3/DynamoDB/SQS on in-process moto. The sources are
small pictures at 5 fps so that twenty minutes encode in seconds.
"""

from __future__ import annotations

import subprocess
import threading
from datetime import timedelta

import pytest

from chalicelib import aws, wiring
from chalicelib.local import worker_loop
from chalicelib.media import segments
from chalicelib.media.probe import probe
from chalicelib.media.tools import ffmpeg_exe
from chalicelib.ops import maintenance
from chalicelib.pipeline import runner
from chalicelib.pipeline.segment_run import SegmentRun
from chalicelib.records import jobs, videos
from chalicelib.records.models import Job
from chalicelib.records.users import get_user
from chalicelib.storage import layout
from tests import api_calls
from tests import media as test_media
from tests.fakes import WorkerDied

FPS = 5
FRAME = 1 / FPS
LONG_SECONDS = 1200


@pytest.fixture(scope="module")
def long_webm(media_dir, media_server):
    """Twenty minutes of VP9 and Opus at 160x90, a keyframe every 10 s: a source that must be transcoded."""
    path = media_dir / "long.webm"
    if not path.exists():
        test_media.make_webm(path, seconds=LONG_SECONDS, width=160, height=90, fps=FPS,
                             extra=("-g", str(10 * FPS), "-b:a", "32k"))
    return media_server.url("files", path.name)


@pytest.fixture(scope="module")
def short_webm(media_dir, media_server):
    path = media_dir / "four-minutes.webm"
    if not path.exists():
        test_media.make_webm(path, seconds=240, width=160, height=90, fps=FPS, extra=("-g", str(10 * FPS)))
    return media_server.url("files", path.name)


@pytest.fixture(autouse=True)
def fanout_settings(settings_env, work_dir):
    settings_env(PRSNL_ALLOW_LOOPBACK_URLS="true", PRSNL_FANOUT_ABOVE_SECONDS="600", PRSNL_SEGMENT_SECONDS="300")


def temp_keys(job_id: str) -> list[str]:
    return [obj["Key"] for obj in wiring.services().storage.list(layout.temp_prefix(job_id))]


def segment_jobs(parent_id: str) -> list[Job]:
    return [job for job in Job.scan() if job.kind == jobs.SEGMENT and job.params["parent"] == parent_id]


def fanned_out(client, user, url: str) -> dict:
    """A capture of ``url`` through the API, its first job run by the worker: waiting on its segments."""
    body = api_calls.capture(client, user, url).json_body
    assert worker_loop.drain(wiring.services().queue, max_batches=1) == 1
    return body


def first_segment_with_its_lease_over(parent_id: str) -> Job:
    """The first segment, claimed by a worker 10 minutes ago whose lease ended a minute ago."""
    segment, now = segment_jobs(parent_id)[0], wiring.services().clock.now()
    assert jobs.claim(segment, now=now - timedelta(minutes=10), lease_until=now - timedelta(minutes=1))
    return segment


def test_long_vp9_capture_is_fanned_out_joined_and_plays_back_whole_and_in_sync(client, user, drain, long_webm,
                                                                                 work_dir, tmp_path):
    # GIVEN a 20-minute VP9 link, over the fan-out threshold (10 minutes, 5-minute segments)
    body = api_calls.capture(client, user, long_webm).json_body
    # WHEN the real worker handler takes the capture, then every segment job it put on the queue
    assert worker_loop.drain(wiring.services().queue, max_batches=1) == 1
    waiting = api_calls.get(client, user, f"/api/jobs/{body['job_id']}").json_body
    handled = drain()
    # THEN the capture waited on 4 segments, and the last of them joined and stored it
    assert (waiting["status"], waiting["segments"], waiting["segments_done"]) == (jobs.WAITING, 4, 0)
    assert handled == 4
    video = videos.get(body["video_id"])
    assert video.status == videos.READY, video.error_message
    job = api_calls.get(client, user, f"/api/jobs/{body['job_id']}").json_body
    assert (job["status"], job["segments"], job["segments_done"], job["progress"]["percent"]) == \
        (jobs.SUCCEEDED, 4, 4, 100)
    assert sorted(child.status for child in segment_jobs(body["job_id"])) == [jobs.SUCCEEDED] * 4
    # AND the stored MP4 lasts the source's 20 minutes (within a frame or two), its sound and picture agree
    path = tmp_path / "stored.mp4"
    aws.client("s3").download_file(wiring.services().settings.bucket, video.file_key, str(path))
    out = probe(path)
    assert (out.video.codec, out.audio.codec, out.video.fps) == ("h264", "aac", FPS)
    assert out.duration == pytest.approx(LONG_SECONDS, abs=2 * FRAME)
    extents = segments.extents(path)
    assert extents["video"].duration == pytest.approx(LONG_SECONDS, abs=2 * FRAME)
    assert extents["audio"].start == pytest.approx(extents["video"].start, abs=FRAME)
    assert extents["audio"].duration == pytest.approx(extents["video"].duration, abs=FRAME)
    # AND every frame decodes without an error
    decoded = subprocess.run([ffmpeg_exe(), "-v", "error", "-xerror", "-i", str(path), "-f", "null", "-"],
                             capture_output=True, text=True)
    assert (decoded.returncode, decoded.stderr) == (0, "")
    # AND nothing is left: no temp object, no work dir, the reservation settled to the stored bytes
    assert temp_keys(body["job_id"]) == []
    assert not any(work_dir.iterdir())
    owner = get_user(user.user_id)
    assert (owner.bytes_reserved, owner.bytes_used) == (0, video.bytes_stored)


def test_segment_that_fails_for_good_fails_its_capture_and_leaves_nothing(client, user, drain, short_webm,
                                                                          settings_env, work_dir, tmp_path):
    # GIVEN a 4-minute VP9 capture fanned out into 4 one-minute segments
    settings_env(PRSNL_FANOUT_ABOVE_SECONDS="60", PRSNL_SEGMENT_SECONDS="60")
    body = api_calls.capture(client, user, short_webm).json_body
    assert worker_loop.drain(wiring.services().queue, max_batches=1) == 1
    assert jobs.get(body["job_id"]).status == jobs.WAITING
    # WHEN one part is damaged before its segment runs (ffmpeg cannot read it: no retry helps)
    garbage = tmp_path / "garbage.mkv"
    garbage.write_bytes(b"\x00" * 4096)
    wiring.services().storage.put_file(garbage, layout.temp_prefix(body["job_id"]) + segments.Part(2, 0, 0).name)
    drain()
    # THEN the capture failed with the segment's reason, every segment ended, and nothing is left over
    job, video = jobs.get(body["job_id"]), videos.get(body["video_id"])
    assert (job.status, job.error_code, video.status) == (jobs.FAILED, "invalid_media", videos.FAILED)
    assert all(child.status in jobs.FINISHED for child in segment_jobs(body["job_id"]))
    assert temp_keys(body["job_id"]) == []
    assert not any(work_dir.iterdir())
    owner = get_user(user.user_id)
    assert (owner.bytes_reserved, owner.bytes_used, owner.bytes_available) == (0, 0, owner.quota_bytes)


def test_segment_the_maintenance_gives_up_fails_its_capture_and_leaves_nothing(client, user, drain, short_webm,
                                                                              settings_env, work_dir):
    # GIVEN a 4-minute capture fanned out into 4 segments, one attempt each
    settings_env(PRSNL_FANOUT_ABOVE_SECONDS="60", PRSNL_SEGMENT_SECONDS="60", PRSNL_MAX_ATTEMPTS="1")
    body = fanned_out(client, user, short_webm)
    # WHEN a segment's worker dies on its last attempt (claimed, its lease over, never finished) and the
    # maintenance runs
    first_segment_with_its_lease_over(body["job_id"])
    report = maintenance.run(services=wiring.services(), apply=True)
    drain()
    # THEN the segment is given up, its capture fails with it, the other segments end, and nothing is left
    assert report.stuck_jobs_failed.fixed == 1
    job, video = jobs.get(body["job_id"]), videos.get(body["video_id"])
    assert (job.status, job.error_code, video.status) == (jobs.FAILED, jobs.LEASE_EXPIRED, videos.FAILED)
    assert all(child.status in jobs.FINISHED for child in segment_jobs(body["job_id"]))
    assert temp_keys(body["job_id"]) == []
    owner = get_user(user.user_id)
    assert (owner.bytes_reserved, owner.bytes_used, owner.bytes_available) == (0, 0, owner.quota_bytes)


@pytest.fixture(scope="module")
def tall_webm(media_dir, media_server):
    """Four minutes of VP9 at 480p: a capture stored whole, then long enough to fan out its 360p rendition."""
    path = media_dir / "four-minutes-480p.webm"
    if not path.exists():
        test_media.make_webm(path, seconds=240, width=854, height=480, fps=FPS,
                             extra=("-g", str(10 * FPS), "-b:a", "32k"))
    return media_server.url("files", path.name)


def test_long_rendition_is_fanned_out_joined_and_stored_in_sync(client, user, drain, tall_webm, settings_env,
                                                                work_dir, tmp_path):
    # GIVEN a 4-minute 480p video stored in one transcode (under the threshold at capture)
    body = api_calls.capture(client, user, tall_webm).json_body
    drain()
    stored = videos.get(body["video_id"])
    assert stored.status == videos.READY, stored.error_message
    # WHEN its 360p rendition is asked with a 1-minute threshold and 1-minute segments, and the worker runs it
    settings_env(PRSNL_FANOUT_ABOVE_SECONDS="60", PRSNL_SEGMENT_SECONDS="60")
    asked = api_calls.transcode(client, user, body["video_id"], "360p")
    assert asked.status_code == 202, asked.json_body
    rendition_job = asked.json_body["job_id"]
    assert worker_loop.drain(wiring.services().queue, max_batches=1) == 1
    waiting = api_calls.get(client, user, f"/api/jobs/{rendition_job}").json_body
    handled = drain()
    # THEN the rendition waited on its segments, and the last of them joined and committed it
    assert (waiting["status"], waiting["kind"], waiting["segments_done"]) == (jobs.WAITING, "transcode", 0)
    assert waiting["segments"] >= 4 and handled == waiting["segments"]
    job = api_calls.get(client, user, f"/api/jobs/{rendition_job}").json_body
    assert (job["status"], job["segments"], job["segments_done"]) == (jobs.SUCCEEDED, waiting["segments"],
                                                                      waiting["segments"])
    entry = api_calls.get(client, user, f"/api/videos/{body['video_id']}/metadata").json_body["renditions"]["360p"]
    assert entry["status"] == "ready" and (entry["width"], entry["height"]) == (640, 360)
    # AND the stored rendition lasts the whole four minutes, in sync, and decodes without an error
    path, original = tmp_path / "360p.mp4", tmp_path / "original.mp4"
    aws.client("s3").download_file(wiring.services().settings.bucket, entry["key"], str(path))
    aws.client("s3").download_file(wiring.services().settings.bucket, stored.file_key, str(original))
    out = probe(path)
    assert (out.video.codec, out.audio.codec, out.video.height) == ("h264", "aac", 360)
    assert out.duration == pytest.approx(probe(original).duration, abs=2 * FRAME)
    extents = segments.extents(path)
    assert extents["audio"].duration == pytest.approx(extents["video"].duration, abs=FRAME)
    decoded = subprocess.run([ffmpeg_exe(), "-v", "error", "-xerror", "-i", str(path), "-f", "null", "-"],
                             capture_output=True, text=True)
    assert (decoded.returncode, decoded.stderr) == (0, "")
    # AND nothing is left, and the quota counts the stored bytes of the capture and its rendition, nothing held
    assert temp_keys(rendition_job) == []
    assert not any(work_dir.iterdir())
    owner, video = get_user(user.user_id), videos.get(body["video_id"])
    assert (owner.bytes_reserved, owner.bytes_used) == (0, video.bytes_stored)
    assert jobs.get(rendition_job).bytes_reserved == 0


def test_a_segment_taken_back_while_its_worker_lives_still_completes_its_capture(client, user, drain, short_webm,
                                                                                 settings_env):
    # GIVEN a 4-minute capture fanned out into 4 segments, and a worker running segment 0 whose lease lapsed (its
    # renewals failed): the maintenance takes the segment back and queues it again
    settings_env(PRSNL_FANOUT_ABOVE_SECONDS="60", PRSNL_SEGMENT_SECONDS="60")
    body, services = fanned_out(client, user, short_webm), wiring.services()
    alive = first_segment_with_its_lease_over(body["job_id"])
    assert maintenance.run(services=services, apply=True).stuck_jobs_requeued.fixed == 1
    # WHEN the living attempt goes on (its first write finds the segment queued again), then the queue is drained
    runner._run(SegmentRun(alive, services), services, reference=alive.job_id)
    left = jobs.get(alive.job_id)
    drain()
    # THEN the living attempt left the segment queued to its next attempt, which ran it: the capture is stored
    assert (left.status, left.attempts) == (jobs.QUEUED, alive.attempts)
    job, video = jobs.get(body["job_id"]), videos.get(body["video_id"])
    assert (job.status, video.status) == (jobs.SUCCEEDED, videos.READY), video.error_message
    assert all(child.status == jobs.SUCCEEDED for child in segment_jobs(body["job_id"]))
    assert temp_keys(body["job_id"]) == []
    owner = get_user(user.user_id)
    assert (owner.bytes_reserved, owner.bytes_used) == (0, video.bytes_stored)


def test_the_captures_progress_only_goes_forward_while_its_segments_run(client, user, drain, short_webm,
                                                                        settings_env, monkeypatch):
    # GIVEN a 4-minute capture fanned out into 4 segments, each writing every change of its progress
    settings_env(PRSNL_FANOUT_ABOVE_SECONDS="60", PRSNL_SEGMENT_SECONDS="60", PRSNL_PROGRESS_INTERVAL_SECONDS="0")
    body = fanned_out(client, user, short_webm)
    shown, report = [], jobs.report_segment

    def report_and_look(*args, **kwargs):  # the real write, then what GET /api/jobs/{id} shows after it
        report(*args, **kwargs)
        shown.append(api_calls.get(client, user, f"/api/jobs/{body['job_id']}").json_body["progress"]["percent"])

    monkeypatch.setattr(jobs, "report_segment", report_and_look)
    # WHEN the segments run (each downloads its part, encodes it, uploads it)
    drain()
    # THEN the percent shown never went back
    assert len(shown) >= 4  # each segment told its capture of its encode
    assert shown == sorted(shown), shown
    assert jobs.get(body["job_id"]).status == jobs.SUCCEEDED


class DiesAtTheFirstVideoUpload:
    """The real S3 storage, except that the worker dies at its first upload of a stored video (the join's)."""

    def __init__(self):
        self.storage, self.died = wiring.services().storage, False

    def __getattr__(self, name):
        return getattr(self.storage, name)

    def put_file(self, path, key: str) -> int:
        if key.startswith("videos/") and not self.died:
            self.died = True
            raise WorkerDied(key)
        return self.storage.put_file(path, key)


def test_a_join_whose_worker_died_is_taken_again_by_the_segments_redelivery(client, user, drain, short_webm,
                                                                            settings_env):
    # GIVEN a 4-minute capture fanned out into 4 segments, and a worker that dies in the join, uploading the video
    settings_env(PRSNL_FANOUT_ABOVE_SECONDS="60", PRSNL_SEGMENT_SECONDS="60")
    body = fanned_out(client, user, short_webm)
    wiring.override(storage=DiesAtTheFirstVideoUpload())
    with pytest.raises(WorkerDied):
        drain()
    services = wiring.services()
    parent, [joiner] = jobs.get(body["job_id"]), [j for j in segment_jobs(body["job_id"]) if j.status == jobs.RUNNING]
    assert (parent.status, len(parent.segments_done)) == (jobs.RUNNING, 4)
    # WHEN both leases are over and the joining segment's message comes back
    past = services.clock.now() - timedelta(minutes=1)
    for job_id in (parent.job_id, joiner.job_id):
        Job(job_id).update(actions=[Job.lease_until.set(past)])
    services.queue.send(jobs.JobMessage(joiner.job_id, body["video_id"], user.user_id, kind=jobs.SEGMENT))
    drain()
    # THEN the redelivery joined again, in the fan-out's own attempt: nothing was downloaded or encoded again
    job, video = jobs.get(body["job_id"]), videos.get(body["video_id"])
    assert (job.status, job.attempts, video.status) == (jobs.SUCCEEDED, 1, videos.READY), video.error_message
    assert len(segment_jobs(body["job_id"])) == 4
    assert all(child.status == jobs.SUCCEEDED for child in segment_jobs(body["job_id"]))
    assert temp_keys(body["job_id"]) == []
    owner = get_user(user.user_id)
    assert (owner.bytes_reserved, owner.bytes_used) == (0, video.bytes_stored)


class HoldsAPartUntilTheGiveUp:
    """The real S3 storage, except that a worker uploading ``held`` waits there until the capture's give-up has
    deleted the fan-out's temp objects; the give-up then waits for that worker to upload and count its part."""

    def __init__(self, held: str):
        self.storage, self.held = wiring.services().storage, held
        self.holding, self.go, self.worker = threading.Event(), threading.Event(), None

    def __getattr__(self, name):
        return getattr(self.storage, name)

    def put_file(self, path, key: str) -> int:
        if key.endswith(self.held):
            self.holding.set()
            self.go.wait(120)
        return self.storage.put_file(path, key)

    def delete(self, keys) -> None:
        self.storage.delete(keys)
        if any("/part" in key for key in keys) and not self.go.is_set():
            self.go.set()
            self.worker.join(120)


def test_a_part_counted_while_its_capture_gives_up_is_removed_with_the_rest(client, user, drain, short_webm,
                                                                           settings_env, tmp_path):
    # GIVEN a 4-minute capture fanned out into 4 segments whose part 2 is damaged (it fails for good), segments 0
    # and 1 done, and segment 3 running in another worker, about to upload its encoded part
    settings_env(PRSNL_FANOUT_ABOVE_SECONDS="60", PRSNL_SEGMENT_SECONDS="60")
    body = fanned_out(client, user, short_webm)
    storage = HoldsAPartUntilTheGiveUp(segments.Part(3, 0, 0).encoded_name)
    wiring.override(storage=storage)
    garbage = tmp_path / "garbage.mkv"
    garbage.write_bytes(b"\x00" * 4096)
    storage.put_file(garbage, layout.temp_prefix(body["job_id"]) + segments.Part(2, 0, 0).name)
    assert drain(max_batches=2) == 2
    queue = wiring.services().queue
    segment_2 = queue.receive(max_messages=1, wait_seconds=0)
    storage.worker = threading.Thread(target=worker_loop.drain, args=(queue,), kwargs={"max_batches": 1})
    storage.worker.start()
    assert storage.holding.wait(120)
    # WHEN segment 2 fails for good, and segment 3 counts itself after the give-up deleted the temp objects but
    # before the capture is failed
    worker_loop.run_batch(queue, worker_loop.queue_arn(queue), segment_2)
    # THEN the capture failed and nothing of its fan-out is left, that part included
    assert jobs.get(body["job_id"]).status == jobs.FAILED
    assert temp_keys(body["job_id"]) == []
    owner = get_user(user.user_id)
    assert (owner.bytes_reserved, owner.bytes_used) == (0, 0)
