"""Backup and restore on moto, with videos captured through the real API and worker (real yt-dlp and ffmpeg):
the restore drill, a whole table set restored, the manifest's checksums, and a corrupt backup refused."""

from __future__ import annotations

import hashlib
import json
from datetime import timedelta
from urllib.parse import unquote, urlparse

import pytest

from chalicelib import aws, wiring
from chalicelib.cli import main as cli
from chalicelib.ops import backup, maintenance
from chalicelib.records import videos
from chalicelib.records.models import ALL_MODELS, User, Video
from tests.fakes import FakeClock

CLIPS = ("clip.mp4", "clip.webm", "clip.mkv")
COUNTERS = ("bytes_used", "bytes_reserved", "bytes_available", "video_count")


@pytest.fixture(autouse=True)
def loopback_allowed(settings_env):
    settings_env(PRSNL_ALLOW_LOOPBACK_URLS="true")


def s3():
    return aws.client("s3")


def settings():
    return wiring.services().settings


def capture_all(client, user, drain, media_server, names) -> list[str]:
    ids = []
    for name in names:
        response = client.http.post("/api/capture", headers=user.headers,
                                    body=json.dumps({"url": media_server.url("files", name)}))
        assert response.status_code == 202, response.body
        ids.append(response.json_body["video_id"])
    assert drain() == len(names)
    return ids


def checksums(video_id: str) -> dict[str, str]:
    """SHA-256 of every object the record points to."""
    return {key: sha256_of(key) for key in videos.stored_keys(Video.get(video_id))}


def sha256_of(key: str) -> str:
    return hashlib.sha256(s3().get_object(Bucket=settings().bucket, Key=key)["Body"].read()).hexdigest()


def streamed_sha256(client, user, video_id: str) -> str:
    """Follow the stream route's redirect as a player would, to the object it signs."""
    response = client.http.get(f"/api/videos/{video_id}/stream", headers=user.headers)
    assert response.status_code == 302, response.body
    url = urlparse(response.headers["Location"])
    bucket_name = url.hostname.split(".")[0]
    assert bucket_name == settings().bucket
    body = s3().get_object(Bucket=bucket_name, Key=unquote(url.path.lstrip("/")))["Body"].read()
    return hashlib.sha256(body).hexdigest()


def counters(user_id: str) -> dict:
    account = User.get(user_id)
    return {name: getattr(account, name) for name in COUNTERS}


def purge(keys) -> None:
    """Delete every version and delete marker: only the backup copy can bring these back."""
    for key in keys:
        listing = s3().list_object_versions(Bucket=settings().bucket, Prefix=key)
        for version in listing.get("Versions", []) + listing.get("DeleteMarkers", []):
            s3().delete_object(Bucket=settings().bucket, Key=key, VersionId=version["VersionId"])


def printed_json(capsys) -> dict:
    """The CLI's indented JSON answer, among the one-line logs and metrics the run printed."""
    out = capsys.readouterr().out
    return json.JSONDecoder().raw_decode(out, out.index("{\n"))[0]


def test_restore_drill_brings_back_three_deleted_videos(client, user, drain, media_server, capsys):
    # GIVEN three captured videos, as they stream and read before anything goes wrong
    ids = capture_all(client, user, drain, media_server, CLIPS)
    before = {vid: client.http.get(f"/api/videos/{vid}", headers=user.headers).json_body for vid in ids}
    assert all(video["status"] == "ready" for video in before.values())
    sums = {vid: checksums(vid) for vid in ids}
    streamed = {vid: streamed_sha256(client, user, vid) for vid in ids}
    quota = counters(user.user_id)
    # AND a backup
    assert cli(["backup"]) == 0
    manifest = printed_json(capsys)
    assert manifest["tables"]["Video"]["count"] == 3
    assert manifest["media"]["objects"] == sum(len(s) for s in sums.values())
    # WHEN the three are deleted (records and objects), the last one's old versions purged as well
    for vid in ids:
        assert client.http.delete(f"/api/videos/{vid}", headers=user.headers).status_code == 204
    purge(sums[ids[2]])
    assert all(client.http.get(f"/api/videos/{vid}", headers=user.headers).status_code == 404 for vid in ids)
    assert counters(user.user_id)["video_count"] == 0
    # AND each is restored
    origins = {}
    for vid in ids:
        assert cli(["restore", "--video", vid]) == 0
        restored = printed_json(capsys)
        assert restored["record"] == manifest["snapshot"]
        origins[vid] = set(restored["objects"].values())
    # THEN the objects came back from the bucket's versions, or from the backup copy when purged
    assert origins == {ids[0]: {"version"}, ids[1]: {"version"}, ids[2]: {"backup"}}
    # AND all three stream again with identical checksums and metadata
    for vid in ids:
        assert client.http.get(f"/api/videos/{vid}", headers=user.headers).json_body == before[vid]
        assert checksums(vid) == sums[vid]
        assert streamed_sha256(client, user, vid) == streamed[vid]
        head = s3().head_object(Bucket=settings().bucket, Key=before[vid]["file_key"])
        assert head["ContentType"] == "video/mp4" and "immutable" in head["CacheControl"]
    # AND the quota counts them again, as the records say
    assert counters(user.user_id) == quota
    assert maintenance.run(services=wiring.services(), apply=False).quota_drift.found == 0


def test_whole_table_set_comes_back_from_a_snapshot(client, user, drain, media_server, capsys):
    # GIVEN a captured video and a backup
    [vid] = capture_all(client, user, drain, media_server, CLIPS[:1])
    before = client.http.get(f"/api/videos/{vid}", headers=user.headers).json_body
    sums, quota = checksums(vid), counters(user.user_id)
    manifest = backup.backup(services=wiring.services())
    # WHEN every table is emptied and the video's objects deleted
    dynamodb = aws.client("dynamodb")
    for model in ALL_MODELS:
        for item in model.scan():
            item.delete()
    s3().delete_objects(Bucket=settings().bucket, Delete={"Objects": [{"Key": key} for key in sums]})
    assert client.http.get(f"/api/videos/{vid}", headers=user.headers).status_code == 401  # even the key is gone
    # AND the snapshot is restored through the CLI
    assert cli(["restore", "--snapshot", manifest["snapshot"]]) == 0
    restored = printed_json(capsys)
    # THEN every table has its items back, the video streams, and nothing drifted
    assert restored["items"] == {name: entry["count"] for name, entry in manifest["tables"].items()}
    assert restored["objects"] == {"version": len(sums)}
    for name, entry in manifest["tables"].items():
        assert dynamodb.scan(TableName=entry["table"], Select="COUNT")["Count"] == entry["count"], name
    assert client.http.get(f"/api/videos/{vid}", headers=user.headers).json_body == before
    assert checksums(vid) == sums and counters(user.user_id) == quota


def test_manifest_counts_and_checksums_match_the_files_and_media_is_copied_once(user, mocked_aws):
    # GIVEN a stored object and the backup of a seeded user
    s3().put_object(Bucket=settings().bucket, Key="videos/2026/01/abc_720p.mp4", Body=b"frames")
    first = backup.backup(services=wiring.services())
    # THEN each table file has the manifest's line count and SHA-256
    for entry in first["tables"].values():
        body = s3().get_object(Bucket=settings().backup_bucket, Key=entry["key"])["Body"].read()
        assert hashlib.sha256(body).hexdigest() == entry["sha256"]
        assert body.count(b"\n") == entry["count"]
    assert first["tables"]["User"]["count"] == 1
    assert first["media"] == {"objects": 1, "bytes": 6}
    # AND a second backup copies only what the backup does not hold yet
    s3().put_object(Bucket=settings().bucket, Key="thumbnails/2026/01/abc_small.jpg", Body=b"jpg")
    wiring.override(clock=FakeClock(later=timedelta(minutes=1)))
    second = backup.backup(services=wiring.services())
    assert second["media"] == {"objects": 1, "bytes": 3}
    assert backup.snapshots(services=wiring.services()) == [first["snapshot"], second["snapshot"]]


def test_corrupt_backup_is_refused_and_restores_nothing(user, mocked_aws):
    # GIVEN a backup whose users file was changed afterwards
    manifest = backup.backup(services=wiring.services())
    entry = manifest["tables"]["User"]
    body = s3().get_object(Bucket=settings().backup_bucket, Key=entry["key"])["Body"].read()
    s3().put_object(Bucket=settings().backup_bucket, Key=entry["key"], Body=body.replace(b"Alice", b"Mallory"))
    User.get(user.user_id).delete()
    # WHEN it is restored THEN the checksum stops it before any write
    with pytest.raises(backup.BackupCorruptError):
        backup.restore_tables(manifest["snapshot"], services=wiring.services())
    assert User.count() == 0


def test_restoring_a_video_in_no_backup_is_not_found(mocked_aws):
    from chalicelib.errors import NotFoundError

    with pytest.raises(NotFoundError):
        backup.restore_video("no-such-video", services=wiring.services())


