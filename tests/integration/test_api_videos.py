"""The video routes through the real app on moto, with videos made by the real worker (yt-dlp + ffmpeg):
listing, reading, metadata, stream/thumbnail redirects, renditions, delete and the storage counters."""

from __future__ import annotations

import base64
import json
import re
from urllib.parse import urlsplit

import pytest

from chalicelib import aws, wiring
from chalicelib.records.models import Job, User, Video
from tests.api_calls import capture, get, transcode


@pytest.fixture(autouse=True)
def loopback_allowed(settings_env):
    settings_env(PRSNL_ALLOW_LOOPBACK_URLS="true")


@pytest.fixture
def ready_video(ready_clip) -> dict:
    return ready_clip


def bucket_keys() -> list[str]:
    s3 = aws.client("s3")
    return [o["Key"] for o in s3.list_objects_v2(Bucket=wiring.services().settings.bucket).get("Contents", [])]


def test_list_is_newest_first_and_pages_with_an_opaque_cursor(client, user, media_server):
    # GIVEN five captures
    ids = [capture(client, user, media_server.url("files", f"clip.mp4?n={n}")).json_body["video_id"]
           for n in range(5)]
    # WHEN they are listed two at a time
    seen, cursor = [], None
    for _ in range(4):
        query = "?limit=2" + (f"&cursor={cursor}" if cursor else "")
        page = get(client, user, f"/api/videos{query}").json_body
        seen += [video["video_id"] for video in page["videos"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    # THEN every video comes once, newest first, and the cursor says nothing readable
    assert seen == ids[::-1]
    filtered = get(client, user, "/api/videos?status=queued&platform=direct&limit=100").json_body
    assert [v["video_id"] for v in filtered["videos"]] == ids[::-1] and filtered["next_cursor"] is None
    assert get(client, user, "/api/videos?status=ready").json_body["videos"] == []
    assert get(client, user, "/api/videos?platform=youtube").json_body["videos"] == []


def test_list_refuses_bad_parameters(client, user):
    for query, code in [("limit=0", "invalid_limit"), ("limit=abc", "invalid_limit"), ("limit=101", "invalid_limit"),
                        ("status=lost", "invalid_status"), ("cursor=bm9wZQ", "invalid_cursor"),
                        ("cursor=%%%", "invalid_cursor")]:
        response = get(client, user, f"/api/videos?{query}")
        assert response.status_code == 400, query
        assert response.json_body["error"]["code"] == code


def test_cursor_of_another_user_is_refused(client, user, other_user, media_server):
    for n in range(2):
        capture(client, user, media_server.url("files", f"clip.mp4?n={n}"))
    cursor = get(client, user, "/api/videos?limit=1").json_body["next_cursor"]
    response = get(client, other_user, f"/api/videos?cursor={cursor}")
    assert response.status_code == 400
    assert response.json_body["error"]["code"] == "invalid_cursor"


def test_metadata_gives_probe_platform_renditions_and_thumbnails(client, user, ready_video):
    meta = get(client, user, f"/api/videos/{ready_video['video_id']}/metadata").json_body
    assert (meta["width"], meta["height"], meta["codec"], meta["audio_codec"]) == (640, 480, "h264", "aac")
    assert meta["duration"] == pytest.approx(1, abs=0.1)
    assert meta["fps"] and meta["average_bitrate"] and meta["filesize"]
    assert set(meta["thumbnails"]) == {"small", "medium", "large"}
    assert meta["renditions"] == {}
    assert meta["platform"] == "direct" and isinstance(meta["platform_metadata"], dict)
    assert {"view_count", "like_count", "upload_date", "uploader"} <= set(meta)


def test_stream_redirects_to_a_short_lived_signed_url(client, user, ready_video):
    # WHEN the stream is asked for
    response = get(client, user, f"/api/videos/{ready_video['video_id']}/stream")
    # THEN it is a redirect to a presigned URL of the stored key, valid for the configured time
    assert response.status_code == 302
    location = urlsplit(response.headers["Location"])
    assert location.path.endswith("/" + ready_video["file_key"])
    assert "X-Amz-Signature=" in location.query and "X-Amz-Expires=300" in location.query
    assert response.headers["Cache-Control"] == "no-store"
    # AND without redirect the same URL comes as JSON with its expiry; "original" is the stored file
    body = get(client, user, f"/api/videos/{ready_video['video_id']}/stream?redirect=false&quality=original").json_body
    assert set(body) == {"url", "expires_at"} and ready_video["file_key"] in body["url"]


def test_stream_of_a_missing_rendition_is_refused(client, user, ready_video):
    for query, status, code in [("quality=720p", 404, "rendition_not_found"),
                                ("quality=low", 404, "rendition_not_found"), ("quality=4k", 400, "invalid_quality")]:
        response = get(client, user, f"/api/videos/{ready_video['video_id']}/stream?{query}")
        assert response.status_code == status, query
        assert response.json_body["error"]["code"] == code


def test_stream_of_a_video_not_ready_is_409(client, user, media_server):
    video_id = capture(client, user, media_server.url("files", "clip.mp4")).json_body["video_id"]
    for path in ("stream", "thumbnail"):
        response = get(client, user, f"/api/videos/{video_id}/{path}")
        assert response.status_code == (409 if path == "stream" else 404)


def test_thumbnail_redirects_per_size(client, user, ready_video):
    for size in ("small", "medium", "large"):
        response = get(client, user, f"/api/videos/{ready_video['video_id']}/thumbnail?size={size}")
        assert response.status_code == 302
        assert urlsplit(response.headers["Location"]).path.endswith(f"/{ready_video['thumbnails'][size]}")
        assert ready_video["thumbnails"][size].endswith(f"_{size}.jpg")
    # AND an unknown size is refused
    response = get(client, user, f"/api/videos/{ready_video['video_id']}/thumbnail?size=huge")
    assert response.status_code == 400
    assert response.json_body["error"]["code"] == "invalid_size"


def test_transcode_makes_one_rendition_when_asked_twice(client, user, ready_video, drain, tmp_path):
    video_id = ready_video["video_id"]
    # WHEN 360p is asked twice before the worker runs
    first, second = transcode(client, user, video_id, "360p"), transcode(client, user, video_id, "low")
    # THEN both answers name the same queued job, and only one job runs
    assert first.status_code == second.status_code == 202
    assert first.json_body["job_id"] == second.json_body["job_id"]
    assert drain() == 1
    job = get(client, user, f"/api/jobs/{first.json_body['job_id']}").json_body
    assert job["status"] == "succeeded" and job["kind"] == "transcode"
    # AND the rendition is a 480x360 H.264 MP4 under the CDN layout, served by ?quality=
    again = transcode(client, user, video_id, "360p")
    assert again.status_code == 200 and again.json_body["status"] == "ready"
    key = again.json_body["key"]
    assert re.fullmatch(rf"videos/\d{{4}}/\d{{2}}/{video_id}_360p\.mp4", key)
    assert (again.json_body["width"], again.json_body["height"]) == (480, 360)
    stream = get(client, user, f"/api/videos/{video_id}/stream?quality=360p")
    assert stream.status_code == 302 and urlsplit(stream.headers["Location"]).path.endswith("/" + key)
    meta = get(client, user, f"/api/videos/{video_id}/metadata").json_body
    assert meta["renditions"]["360p"]["filesize"] == again.json_body["filesize"]
    # AND its bytes count in the quota and the stats
    stats = get(client, user, "/api/storage/stats").json_body
    assert stats["bytes_used"] == meta["bytes_stored"] == sum(Video.get(video_id).object_sizes.as_dict().values())
    assert stats["video_count"] == 1


def test_transcode_refuses_upscaling_and_bad_qualities(client, user, ready_video, drain):
    video_id = ready_video["video_id"]
    above = transcode(client, user, video_id, "720p")
    assert above.status_code == 400 and above.json_body["error"]["code"] == "upscale_refused"
    for quality in ("4k", "", 5, None):
        response = transcode(client, user, video_id, quality)
        assert response.status_code == 400 and response.json_body["error"]["code"] == "invalid_quality"
    original = transcode(client, user, video_id, "original")
    assert original.status_code == 200 and original.json_body["key"] == ready_video["file_key"]
    assert drain() == 0


def test_transcode_of_a_video_not_ready_is_409(client, user, media_server):
    video_id = capture(client, user, media_server.url("files", "clip.mp4")).json_body["video_id"]
    response = transcode(client, user, video_id, "360p")
    assert response.status_code == 409 and response.json_body["error"]["code"] == "not_ready"


def test_delete_leaves_no_object_no_record_and_gives_the_bytes_back(client, user, ready_video, drain):
    video_id = ready_video["video_id"]
    job_id = transcode(client, user, video_id, "360p").json_body["job_id"]
    assert drain() == 1
    assert len(bucket_keys()) == 5  # file, 360p, three thumbnails
    # WHEN the video is deleted
    response = client.http.delete(f"/api/videos/{video_id}", headers=user.headers)
    # THEN nothing of it is left and the quota and counters are back where they started
    assert response.status_code == 204
    assert bucket_keys() == []
    assert Video.count() == 0 and Job.count() == 0
    owner = User.get(user.user_id)
    assert (owner.bytes_used, owner.bytes_reserved, owner.video_count) == (0, 0, 0)
    assert owner.bytes_available == owner.quota_bytes
    assert set(owner.usage_bytes.as_dict().values()) == {0} and set(owner.usage_count.as_dict().values()) == {0}
    stats = get(client, user, "/api/storage/stats").json_body
    assert stats["by_platform"] == {} and stats["by_month"] == {}
    # AND deleting again, or reading it or its job, is 404
    assert client.http.delete(f"/api/videos/{video_id}", headers=user.headers).status_code == 404
    assert get(client, user, f"/api/videos/{video_id}").status_code == 404
    assert get(client, user, f"/api/jobs/{job_id}").status_code == 404


def test_delete_of_a_queued_capture_cancels_its_job(client, user, drain, media_server):
    body = capture(client, user, media_server.url("files", "clip.mp4")).json_body
    assert client.http.delete(f"/api/videos/{body['video_id']}", headers=user.headers).status_code == 204
    assert drain() == 1  # the message is dropped: its job is gone
    assert bucket_keys() == [] and Video.count() == 0 and Job.count() == 0
    owner = User.get(user.user_id)
    assert (owner.bytes_used, owner.bytes_reserved, owner.bytes_available) == (0, 0, owner.quota_bytes)


def test_delete_while_a_rendition_reads_its_source_gives_all_its_bytes_back(client, user, ready_video, drain):
    # GIVEN a rendition asked for, and the video deleted once its worker has fetched the stored file (before it
    # reserves the rendition's bytes)
    video_id = ready_video["video_id"]
    assert transcode(client, user, video_id, "360p").status_code == 202
    deleted = []

    def delete_now(**_):
        if not deleted:
            deleted.append(client.http.delete(f"/api/videos/{video_id}", headers=user.headers).status_code)

    wiring.services().storage._s3.meta.events.register("after-call.s3.GetObject", delete_now)
    # WHEN the worker runs the rendition
    drain()
    # THEN nothing is left, and the owner's counters hold no reservation
    assert deleted == [204] and Video.count() == 0 and Job.count() == 0
    owner = User.get(user.user_id)
    assert (owner.bytes_used, owner.bytes_reserved, owner.video_count) == (0, 0, 0)
    assert owner.bytes_available == owner.quota_bytes


def test_storage_stats_come_from_the_counters(client, user, other_user, ready_video):
    stats = get(client, user, "/api/storage/stats").json_body
    stored = Video.get(ready_video["video_id"]).object_sizes.as_dict()
    month = ready_video["created_at"][:7]
    assert stats["bytes_used"] == sum(stored.values()) and stats["video_count"] == 1
    assert stats["bytes_available"] == stats["quota_bytes"] - stats["bytes_used"]
    assert stats["by_platform"] == {"direct": {"bytes": stats["bytes_used"], "count": 1}}
    assert stats["by_month"] == {month: {"bytes": stats["bytes_used"], "count": 1}}
    # AND the admin view needs an admin
    response = get(client, user, "/api/admin/storage/stats")
    assert response.status_code == 403 and response.json_body["error"]["code"] == "forbidden"


def test_admin_stats_total_everyone(client, user, other_user, ready_video):
    from chalicelib.records import users

    users.set_admin(other_user.user_id, True)
    stats = get(client, other_user, "/api/admin/storage/stats").json_body
    stored = Video.get(ready_video["video_id"]).object_sizes.as_dict()
    thumbs = sum(size for key, size in stored.items() if key.startswith("thumbnails/"))
    assert stats["totals"]["bytes_used"] == sum(stored.values())
    assert stats["totals"]["users"] == 2 and stats["totals"]["video_count"] == 1
    assert stats["by_prefix"] == {"videos": sum(stored.values()) - thumbs, "thumbnails": thumbs}
    assert stats["temp_bytes"] == 0
    assert {u["user_id"]: u["video_count"] for u in stats["per_user"]} == {"alice": 1, "bob": 0}


def test_platforms_are_listed(client):
    from chalicelib.platforms import PLATFORMS

    body = client.http.get("/api/platforms").json_body
    assert [p["name"] for p in body["platforms"]] == [p.name for p in PLATFORMS]
    assert all(p["label"] and p["supports"] for p in body["platforms"])


def test_capture_is_refused_when_the_quota_is_used_up(client, user, media_server, drain):
    from chalicelib.records import users

    users.set_quota(user.user_id, 0)
    response = capture(client, user, media_server.url("files", "clip.mp4"))
    assert response.status_code == 413
    assert response.json_body["error"]["code"] == "quota_exceeded"
    assert drain() == 0 and Video.count() == 0


def test_job_larger_than_the_quota_left_fails_clearly(client, user, media_server, drain):
    from chalicelib.records import users

    users.set_quota(user.user_id, 1000)
    body = capture(client, user, media_server.url("files", "clip.mp4")).json_body
    drain()
    job = get(client, user, f"/api/jobs/{body['job_id']}").json_body
    assert job["status"] == "failed" and job["error_code"] in ("quota_exceeded", "too_large")
    owner = User.get(user.user_id)
    assert (owner.bytes_used, owner.bytes_reserved, owner.bytes_available) == (0, 0, 1000)
    assert bucket_keys() == []


class BrokenStorage:
    """A storage adapter with a bug of ours in it: every call fails in a way nobody expected."""

    def __getattr__(self, name):
        def fail(*args, **kwargs):
            raise TypeError("'NoneType' object is not subscriptable")

        return fail


def test_an_unexpected_failure_answers_internal_with_a_reference_never_the_python_error(client, user, ready_video):
    # GIVEN a bug under the delete route
    wiring.override(storage=BrokenStorage())
    # WHEN the owner deletes the video
    response = client.http.delete(f"/api/videos/{ready_video['video_id']}", headers=user.headers)
    # THEN the answer is ours to own: code internal, a reference to the logs, no Python in it
    assert response.status_code == 500
    error = response.json_body["error"]
    assert error["code"] == "internal"
    assert re.fullmatch(r"Something went wrong on our side \(reference [\w-]+\)", error["message"]), error
    assert "TypeError" not in str(response.json_body) and "NoneType" not in str(response.json_body)


def cursor_of(key) -> str:
    return base64.urlsafe_b64encode(json.dumps(key).encode()).decode().rstrip("=")


def test_a_cursor_dynamodb_would_refuse_is_refused_as_no_position_of_the_list(client, user, media_server):
    # GIVEN a position this list gave, and forgeries of it that DynamoDB cannot read as a key
    capture(client, user, media_server.url("files", "clip.mp4?n=1"))
    capture(client, user, media_server.url("files", "clip.mp4?n=2"))
    cursor = get(client, user, "/api/videos?limit=1").json_body["next_cursor"]
    given = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
    forged = [{**given, "video_id": {"S": given["video_id"]["S"], "N": "1"}},  # a value of two types
              {**given, "video_id": {"S": ""}},  # an empty key
              {**given, "created_at": {"S": "x" * 3000}}]  # a key past DynamoDB's limit
    # WHEN each is sent back
    answers = [get(client, user, f"/api/videos?cursor={cursor_of(key)}") for key in forged]
    # THEN each is refused as a cursor the list did not give, and the one it gave still pages
    assert [(a.status_code, a.json_body["error"]["code"]) for a in answers] == [(400, "invalid_cursor")] * 3
    assert len(get(client, user, f"/api/videos?cursor={cursor}").json_body["videos"]) == 1


def test_an_id_no_record_can_have_is_not_found_without_asking_dynamodb(client, user):
    # GIVEN every GetItem of videos and jobs seen (DynamoDB refuses one whose key passes its limit with an error)
    asked = []
    for model in (Video, Job):
        model._get_connection().connection.client.meta.events.register(
            "before-call.dynamodb.GetItem", lambda **kwargs: asked.append(kwargs["params"]))
    # WHEN a video and a job are asked for by ids no record can have
    for path in ("/api/videos/" + "x" * 3000, "/api/jobs/" + "é" * 1000):
        response = get(client, user, path)
        # THEN each is not found, as a missing record, and DynamoDB was not asked
        assert (response.status_code, response.json_body["error"]["code"]) == (404, "not_found"), path
    assert asked == []
