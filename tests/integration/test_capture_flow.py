"""The walking skeleton through the real app and the real worker handler on moto:
POST /api/capture → SQS → worker (real yt-dlp, real ffmpeg) → S3 + DynamoDB → GET job/video."""

from __future__ import annotations

import json
import re

import pytest

from chalicelib import aws, wiring
from chalicelib.media.probe import probe


@pytest.fixture(autouse=True)
def loopback_allowed(settings_env):
    settings_env(PRSNL_ALLOW_LOOPBACK_URLS="true")


def capture(client, user, url: str, **extra):
    return client.http.post("/api/capture", headers=user.headers, body=json.dumps({"url": url, **extra}))


def test_capture_becomes_ready_video_when_worker_runs(client, user, drain, media_server, media_dir, tmp_path):
    # GIVEN a served H.264 clip
    url = media_server.url("files", "clip.mp4")
    # WHEN it is captured and the queue is drained through the worker handler
    response = capture(client, user, url, title="My clip", tags=["demo"])
    assert response.status_code == 202, response.body
    body = response.json_body
    assert body["status"] == "queued" and body["video_id"] and body["job_id"]
    assert drain() == 1
    # THEN the job succeeded and the video is ready under the CDN layout
    job = client.http.get(f"/api/jobs/{body['job_id']}", headers=user.headers).json_body
    assert job["status"] == "succeeded", job
    assert job["attempts"] == 1
    video = client.http.get(f"/api/videos/{body['video_id']}", headers=user.headers).json_body
    assert video["status"] == "ready"
    assert video["title"] == "My clip" and video["tags"] == ["demo"]
    assert re.fullmatch(rf"videos/\d{{4}}/\d{{2}}/{body['video_id']}\.mp4", video["file_key"])
    assert set(video["thumbnails"]) == {"small", "medium", "large"}
    # AND the stored object is a browser-safe MP4 of the same duration
    s3 = aws.client("s3")
    bucket = wiring.services().settings.bucket
    head = s3.head_object(Bucket=bucket, Key=video["file_key"])
    assert head["ContentType"] == "video/mp4"
    assert "max-age=31536000" in head["CacheControl"]
    local = tmp_path / "stored.mp4"
    s3.download_file(bucket, video["file_key"], str(local))
    stored = probe(local)
    assert stored.video.codec == "h264" and stored.audio.codec == "aac"
    assert stored.duration == pytest.approx(probe(media_dir / "clip.mp4").duration, abs=0.1)
    assert video["duration"] == pytest.approx(stored.duration, abs=0.1)
    assert video["width"] == 320 and video["height"] == 240


def test_capture_refused_when_no_api_key(client):
    response = client.http.post("/api/capture", body=json.dumps({"url": "https://example.com/a.mp4"}))
    assert response.status_code == 401
    assert response.json_body["error"]["code"] == "unauthorized"


def test_capture_refused_when_key_unknown(client):
    response = client.http.post("/api/capture", headers={"Authorization": "Bearer prsnl_nope"},
                                body=json.dumps({"url": "https://example.com/a.mp4"}))
    assert response.status_code == 401


@pytest.mark.parametrize("body", ["not json", json.dumps([1]), json.dumps({"url": 5}), json.dumps({}),
                                  json.dumps({"url": "https://youtu.be/dQw4w9WgXcQ", "title": 5}),
                                  json.dumps({"url": "https://youtu.be/dQw4w9WgXcQ", "note": ["x"]})])
def test_capture_refused_when_body_is_bad(client, user, body):
    response = client.http.post("/api/capture", headers=user.headers, body=body)
    assert response.status_code == 400
    assert set(response.json_body["error"]) == {"code", "message"}


def test_capture_refused_when_scheme_is_not_http(client, user, drain):
    response = capture(client, user, "ftp://example.com/video.mp4")
    assert response.status_code == 422
    assert response.json_body["error"]["code"] == "unsupported_url"
    assert drain() == 0


def test_same_link_twice_gives_the_existing_video(client, user, media_server):
    url = media_server.url("files", "clip.mp4")
    first = capture(client, user, url)
    second = capture(client, user, url)
    assert first.status_code == 202 and second.status_code == 200
    assert second.json_body["video_id"] == first.json_body["video_id"]
    assert second.json_body["created"] is False


def test_other_users_video_and_job_answer_404(client, user, other_user, media_server):
    body = capture(client, user, media_server.url("files", "clip.mp4")).json_body
    for path in (f"/api/videos/{body['video_id']}", f"/api/jobs/{body['job_id']}"):
        response = client.http.get(path, headers=other_user.headers)
        missing = client.http.get(path.rsplit("/", 1)[0] + "/does-not-exist", headers=other_user.headers)
        assert response.status_code == 404 == missing.status_code
        assert response.json_body["error"]["code"] == missing.json_body["error"]["code"] == "not_found"


def test_health_reports_each_service(client):
    response = client.http.get("/api/health")
    assert response.status_code == 200
    assert {name for name, part in response.json_body["checks"].items() if part["ok"]} == {"s3", "dynamodb", "sqs"}


def test_health_is_503_when_the_queue_is_gone(client, mocked_aws):
    aws.client("sqs").delete_queue(QueueUrl=mocked_aws["jobs"])
    response = client.http.get("/api/health")
    assert response.status_code == 503
    assert response.json_body["checks"]["sqs"]["ok"] is False


def test_platform_link_is_queued_without_a_dns_lookup_at_capture(client, user, drain):
    # GIVEN a YouTube link (a fixed public host: the worker's connection guard still checks every address)
    # WHEN it is captured on a machine without DNS
    response = capture(client, user, "https://youtu.be/dQw4w9WgXcQ?si=tracking")
    # THEN it is queued under its canonical form
    assert response.status_code == 202, response.json_body
    assert response.json_body["video"]["canonical_url"] == "https://www.youtube.com/watch?v=dQw4w9WgXcQ"
    assert response.json_body["video"]["platform"] == "youtube"


def test_capture_whose_job_cannot_be_queued_answers_503_and_keeps_nothing(client, user, media_server):
    from chalicelib.queue import SqsJobQueue
    from chalicelib.records.models import Job, Video, VideoSource

    wiring.override(queue=SqsJobQueue("prsnl-local-no-such-queue"))
    response = capture(client, user, media_server.url("files", "clip.mp4"))
    assert (response.status_code, response.json_body["error"]["code"]) == (503, "unavailable")
    assert (Video.count(), Job.count(), VideoSource.count()) == (0, 0, 0)
    usage = client.http.get("/api/storage/stats", headers=user.headers).json_body
    assert (usage["bytes_reserved"], usage["video_count"]) == (0, 0)
