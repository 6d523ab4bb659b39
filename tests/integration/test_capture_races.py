"""Captures racing each other: N simultaneous captures of one link make one record, one job, one stored file and
one charge; the others answer with that video. moto is given DynamoDB's atomicity, as the local stack's has it."""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor

import pytest

from chalicelib import capture, wiring
from chalicelib.records import videos
from chalicelib.records.models import Job, User, Video, VideoSource
from tests.conftest import seed_user

SIMULTANEOUS = 10


@pytest.fixture(autouse=True)
def loopback_allowed(settings_env):
    settings_env(PRSNL_ALLOW_LOOPBACK_URLS="true")


@pytest.fixture
def alice(mocked_aws):
    return seed_user("alice")


def capture_at_once(url: str, owner_id: str, count: int) -> list[capture.CaptureResult]:
    services = wiring.services()
    with ThreadPoolExecutor(max_workers=count) as pool:
        return list(pool.map(lambda _: capture.capture(url, owner_id=owner_id, services=services), range(count)))


def test_simultaneous_captures_of_one_link_make_one_record_one_job_and_one_charge(alice, media_server, drain):
    # GIVEN ten captures of the same link, all at the same moment
    url = media_server.url("files", "clip.mp4")
    results = capture_at_once(url, alice.user_id, SIMULTANEOUS)
    # THEN exactly one was created; every other one answers with that same video
    created = [result for result in results if result.created]
    assert len(created) == 1
    assert {result.video.video_id for result in results} == {created[0].video.video_id}
    assert [video.video_id for video in Video.scan()] == [created[0].video.video_id]
    assert [job.job_id for job in Job.scan()] == [created[0].job.job_id]
    # WHEN the worker runs what was queued
    assert drain() == 1
    # THEN one file is stored and charged once
    video = videos.get(created[0].video.video_id)
    owner = User.get(alice.user_id)
    assert video.status == videos.READY
    assert (owner.bytes_used, owner.video_count, owner.bytes_reserved) == (video.bytes_stored, 1, 0)


def test_a_failed_capture_is_queued_again_once_when_the_link_is_captured_again_at_once(alice, media_server, drain):
    # GIVEN a link whose first capture failed (the server kept answering 503)
    url = media_server.url("fail", "gone.mp4")
    first = capture.capture(url, owner_id=alice.user_id, services=wiring.services())
    drain()
    assert videos.get(first.video.video_id).status == videos.FAILED
    # WHEN it is captured again ten times at once
    results = capture_at_once(url, alice.user_id, SIMULTANEOUS)
    # THEN the failed record was queued again exactly once, under its own id and with one new job
    created = [result for result in results if result.created]
    assert len(created) == 1 and created[0].video.video_id == first.video.video_id
    assert {result.video.video_id for result in results} == {first.video.video_id}
    assert [video.video_id for video in Video.scan()] == [first.video.video_id]
    assert [job.job_id for job in Job.scan()] == [created[0].job.job_id] != [first.job.job_id]
    assert VideoSource.get(first.video.owner_source).video_id == first.video.video_id


def test_the_api_answers_200_with_the_video_for_a_link_already_being_saved(alice, media_server, client):
    # GIVEN a capture of a link in progress
    url = media_server.url("files", "clip.mp4")
    body = json.dumps({"url": url})
    first = client.http.post("/api/capture", headers=alice.headers, body=body)
    # WHEN the same link is sent again
    again = client.http.post("/api/capture", headers=alice.headers, body=body)
    # THEN it is the same video, 200 instead of 202
    assert (first.status_code, again.status_code) == (202, 200)
    assert again.json_body["video_id"] == first.json_body["video_id"] and again.json_body["created"] is False


def test_deleting_a_video_frees_its_link_for_a_new_capture(alice, media_server, client, drain):
    url = media_server.url("files", "clip.mp4")
    body = json.dumps({"url": url})
    first = client.http.post("/api/capture", headers=alice.headers, body=body).json_body
    drain()
    assert client.http.delete(f"/api/videos/{first['video_id']}", headers=alice.headers).status_code == 204
    assert list(VideoSource.scan()) == []
    again = client.http.post("/api/capture", headers=alice.headers, body=body)
    assert again.status_code == 202 and again.json_body["video_id"] != first["video_id"]
