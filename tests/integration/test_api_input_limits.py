"""Bad input gets a 4xx with the error shape and loses nothing: limits on title, note, tags and the body, text
that is not valid Unicode, and links that redirect to a scheme we never fetch. The real app and worker on moto."""

from __future__ import annotations

import json

import pytest

from chalicelib import aws, capture, wiring
from chalicelib.api.http import MAX_BODY_BYTES
from chalicelib.records import jobs
from chalicelib.records.models import Job, Video


@pytest.fixture(autouse=True)
def loopback_allowed(settings_env):
    settings_env(PRSNL_ALLOW_LOOPBACK_URLS="true")


URL = "https://example.com/video.mp4"
LONE_SURROGATE = '"\\ud800"'  # valid JSON, not valid Unicode text: DynamoDB cannot store it


@pytest.mark.parametrize("body, status, code", [
    ('{"url": ' + LONE_SURROGATE + "}", 400, "invalid_url"),
    (json.dumps({"url": URL})[:-1] + ', "title": ' + LONE_SURROGATE + "}", 400, "invalid_title"),
    (json.dumps({"url": URL, "title": "t" * (capture.MAX_TITLE_LENGTH + 1)}), 400, "invalid_title"),
    (json.dumps({"url": URL, "note": "n" * (capture.MAX_NOTE_LENGTH + 1)}), 400, "invalid_note"),
    (json.dumps({"url": URL, "tags": [f"t{n}" for n in range(capture.MAX_TAGS + 1)]}), 400, "invalid_tags"),
    (json.dumps({"url": URL, "tags": ["x" * (capture.MAX_TAG_LENGTH + 1)]}), 400, "invalid_tags"),
    (json.dumps({"url": URL, "tags": ["  "]}), 400, "invalid_tags"),
    (json.dumps({"url": URL, "tags": {}}), 400, "invalid_tags"),
    (json.dumps({"url": URL, "tags": False}), 400, "invalid_tags"),
    (json.dumps({"url": URL, "tags": 0}), 400, "invalid_tags"),
    (json.dumps({"url": URL, "title": "a 1 MB title " * 80_000}), 413, "body_too_large"),
    (json.dumps({"url": URL, "note": "x" * MAX_BODY_BYTES}), 413, "body_too_large"),
])
def test_bad_capture_input_gets_a_4xx_and_writes_nothing(client, user, body, status, code):
    response = client.http.post("/api/capture", headers=user.headers, body=body)
    assert (response.status_code, response.json_body["error"]["code"]) == (status, code)
    assert response.json_body["error"]["message"]
    assert list(Video.scan()) == [] and list(Job.scan()) == []
    assert not aws.client("sqs").receive_message(QueueUrl=wiring.services().queue.url).get("Messages")


def test_input_at_the_limits_is_kept_whole(client, user, media_server):
    details = {"title": "t" * capture.MAX_TITLE_LENGTH, "note": "n" * capture.MAX_NOTE_LENGTH,
               "tags": ["x" * capture.MAX_TAG_LENGTH] * capture.MAX_TAGS}
    response = client.http.post("/api/capture", headers=user.headers,
                                body=json.dumps({"url": media_server.url("files", "clip.mp4"), **details}))
    assert response.status_code == 202
    video = Video.get(response.json_body["video_id"])
    assert (video.title, video.note, video.tags) == (details["title"], details["note"], details["tags"])


@pytest.mark.parametrize("body, code", [
    ('{"title": ' + LONE_SURROGATE + "}", "invalid_title"),
    ('{"note": ' + LONE_SURROGATE + "}", "invalid_note"),
    ('{"tags": [' + LONE_SURROGATE + "]}", "invalid_tags"),
    (json.dumps({"title": "t" * (capture.MAX_TITLE_LENGTH + 1)}), "invalid_title"),
    (json.dumps({"note": "n" * (capture.MAX_NOTE_LENGTH + 1)}), "invalid_note"),
    (json.dumps({"tags": [f"t{n}" for n in range(capture.MAX_TAGS + 1)]}), "invalid_tags"),
    (json.dumps({"tags": ["x" * (capture.MAX_TAG_LENGTH + 1)]}), "invalid_tags"),
])
def test_a_bad_edit_gets_a_4xx_and_changes_nothing(client, user, media_server, body, code):
    # GIVEN a captured video with a title
    captured = client.http.post("/api/capture", headers=user.headers, body=json.dumps(
        {"url": media_server.url("files", "clip.mp4"), "title": "kept", "tags": ["kept"]})).json_body
    # WHEN an edit sends text the capture would refuse
    response = client.http.patch(f"/api/videos/{captured['video_id']}", headers=user.headers, body=body)
    # THEN it is refused like the capture's, and the video is as it was
    assert (response.status_code, response.json_body["error"]["code"]) == (400, code)
    video = Video.get(captured["video_id"])
    assert (video.title, video.note, video.tags) == ("kept", None, ["kept"])


def test_a_link_of_the_longest_length_is_captured_once(client, user, media_server):
    # GIVEN a link of the 2,048 characters a capture takes (its de-duplication key would pass DynamoDB's limit)
    base = media_server.url("files", "clip.mp4") + "?a="
    url = base + "é" * (capture.MAX_URL_LENGTH - len(base))
    # WHEN it is captured twice
    first, second = (client.http.post("/api/capture", headers=user.headers, body=json.dumps({"url": url}))
                     for _ in range(2))
    # THEN it was queued once, and the second capture answered with the same video
    assert (first.status_code, second.status_code) == (202, 200)
    assert second.json_body["video_id"] == first.json_body["video_id"]
    assert len(list(Video.scan())) == 1


def test_a_redirect_to_a_file_url_is_refused_at_once(client, user, drain, media_server):
    # GIVEN a link whose server redirects to file:///etc/passwd
    url = media_server.url("redirect") + "?to=file:///etc/passwd"
    response = client.http.post("/api/capture", headers=user.headers, body=json.dumps({"url": url}))
    drain()
    # THEN the job failed as blocked on its first attempt (no retry, no transient error)
    job = jobs.get(response.json_body["job_id"])
    assert (job.status, job.error_code, job.attempts) == (jobs.FAILED, "blocked_url", 1)
