"""Audio captures end to end: ``audio_only`` links, MP3 and M4A files, a video kept as its sound, cover art and a
page's artwork; keys, record, stream, quota and delete.

The real app (chalice's test client), the real worker handler, real yt-dlp from the loopback media server and real
ffmpeg, against in-process moto. The files are made here by ffmpeg's lavfi sine source.
"""

from __future__ import annotations

from datetime import UTC, datetime
from urllib.parse import urlsplit

import pytest

from chalicelib import aws, wiring
from chalicelib.media.probe import probe
from chalicelib.records import jobs
from chalicelib.records.models import Job, User, Video
from tests import media as test_media
from tests.api_calls import capture, get

SECONDS = 3


@pytest.fixture(autouse=True)
def loopback_allowed(settings_env, work_dir):
    settings_env(PRSNL_ALLOW_LOOPBACK_URLS="true")


@pytest.fixture(scope="module")
def audio_files(media_dir, media_server):
    """A 64 kbit/s MP3, a 96 kbit/s AAC M4A, an MP3 with cover art, a silent clip, and a page whose <audio> plays
    the M4A with its artwork (og:image), as podcast pages are."""
    test_media.make_audio(media_dir / "tone.mp3", seconds=SECONDS, codec="libmp3lame", bitrate="64k")
    test_media.make_audio(media_dir / "tone.m4a", seconds=SECONDS, codec="aac", bitrate="96k")
    test_media.make_audio(media_dir / "covered.mp3", seconds=SECONDS, codec="libmp3lame", cover=True)
    test_media.make_gif_like(media_dir / "silent.mp4")
    test_media.ffmpeg("-f", "lavfi", "-i", "testsrc2=size=600x600", "-frames:v", "1", str(media_dir / "art.jpg"))
    (media_dir / "episode.html").write_text(
        '<!doctype html><html><head><meta charset="utf-8"><title>Episode 1</title>'
        f'<meta property="og:image" content="{media_server.url("files", "art.jpg")}"></head>'
        f'<body><audio controls src="{media_server.url("files", "tone.m4a")}"></audio></body></html>')
    return media_dir


def bucket_keys() -> list[str]:
    return sorted(o["Key"] for o in wiring.services().storage.list(""))


def saved(client, user, drain, url: str, **extra) -> dict:
    body = capture(client, user, url, **extra).json_body
    assert drain() == 1
    return get(client, user, f"/api/videos/{body['video_id']}").json_body


def stored(video: dict, tmp_path):
    path = tmp_path / "stored.m4a"
    aws.client("s3").download_file(wiring.services().settings.bucket, video["file_key"], str(path))
    return probe(path)


@pytest.mark.parametrize(("name", "codec", "source_bitrate"), [("tone.mp3", "mp3", 64_000),
                                                                ("tone.m4a", "aac", 96_000)])
def test_audio_only_capture_is_aac_in_m4a_under_audio(client, user, drain, media_server, audio_files, tmp_path,
                                                      name, codec, source_bitrate):
    source = probe(audio_files / name)
    assert source.audio.codec == codec and source.video is None
    # WHEN a sound file is captured with audio_only
    video = saved(client, user, drain, media_server.url("files", name), audio_only=True)
    # THEN it is an audio record whose file sits under audio/ as AAC in M4A, with its duration and bitrate
    assert video["status"] == "ready", video
    assert video["kind"] == "audio"
    assert video["file_key"] == f"audio/{video['created_at'][:4]}/{video['created_at'][5:7]}/{video['video_id']}.m4a"
    assert (video["codec"], video["audio_codec"], video.get("width"), video.get("height")) == ("aac", "aac", None, None)
    assert video["duration"] == pytest.approx(SECONDS, abs=0.1)
    out = stored(video, tmp_path)
    assert ("mp4" in out.format_name, out.video, out.audio.codec) == (True, None, "aac")
    assert out.duration == pytest.approx(SECONDS, abs=0.1)
    # AND AAC was copied as it was (same bitrate), an MP3 encoded at its own bitrate, not above
    assert out.audio.bit_rate == pytest.approx(source_bitrate, rel=0.1)
    if codec == "aac":
        assert out.audio.bit_rate == source.audio.bit_rate
    # AND the stream link leads to the M4A, served as audio/mp4
    stream = get(client, user, f"/api/videos/{video['video_id']}/stream")
    assert stream.status_code == 302 and urlsplit(stream.headers["Location"]).path.endswith("/" + video["file_key"])
    head = aws.client("s3").head_object(Bucket=wiring.services().settings.bucket, Key=video["file_key"])
    assert head["ContentType"] == "audio/mp4"
    # AND the quota counts exactly what is stored
    owner = User.get(user.user_id)
    assert owner.bytes_used == video["bytes_stored"] == sum(o["Size"] for o in wiring.services().storage.list(""))
    assert (owner.video_count, owner.bytes_reserved) == (1, 0)
    # AND the metadata says what it is
    meta = get(client, user, f"/api/videos/{video['video_id']}/metadata").json_body
    assert (meta["kind"], meta["audio_codec"], meta.get("width"), meta["duration"]) == \
        ("audio", "aac", None, video["duration"])
    # WHEN it is deleted THEN every object and record goes and the quota is whole again
    assert client.http.delete(f"/api/videos/{video['video_id']}", headers=user.headers).status_code == 204
    assert bucket_keys() == [] and Video.count() == 0 and Job.count() == 0
    owner = User.get(user.user_id)
    assert (owner.bytes_used, owner.video_count, owner.bytes_available) == (0, 0, owner.quota_bytes)


def test_a_video_captured_with_audio_only_keeps_its_sound_alone(client, user, drain, media_server, audio_files,
                                                                tmp_path):
    video = saved(client, user, drain, media_server.url("files", "clip.mp4"), audio_only=True)
    assert video["status"] == "ready", video
    assert video["kind"] == "audio" and video["file_key"].startswith("audio/") and video["file_key"].endswith(".m4a")
    out = stored(video, tmp_path)
    assert (out.video, out.audio.codec) == (None, "aac")
    assert video["duration"] == pytest.approx(probe(audio_files / "clip.mp4").duration, abs=0.1)
    assert [key for key in bucket_keys() if not key.startswith("thumbnails/")] == [video["file_key"]]


def test_an_mp3_captured_as_a_link_becomes_audio_not_no_video(client, user, drain, media_server, audio_files):
    # GIVEN an MP3 link saved without audio_only
    video = saved(client, user, drain, media_server.url("files", "tone.mp3"))
    # THEN it is kept as audio, not refused for having no picture
    assert (video["status"], video["kind"], video["audio_codec"]) == ("ready", "audio", "aac"), video
    assert video["file_key"].startswith("audio/") and video["thumbnails"] == {}
    # AND asking for a smaller copy of it is a clear refusal
    response = client.http.post(f"/api/videos/{video['video_id']}/transcode", headers=user.headers,
                                body='{"quality": "360p"}')
    assert response.status_code == 400 and response.json_body["error"]["code"] == "audio_only"


def test_cover_art_in_the_file_becomes_the_thumbnails(client, user, drain, media_server, audio_files, tmp_path):
    video = saved(client, user, drain, media_server.url("files", "covered.mp3"), audio_only=True)
    assert video["status"] == "ready", video
    assert set(video["thumbnails"]) == {"small", "medium", "large"}
    head = aws.client("s3").head_object(Bucket=wiring.services().settings.bucket, Key=video["thumbnails"]["large"])
    assert head["ContentType"] == "image/jpeg"
    out = stored(video, tmp_path)
    assert out.video is None  # the picture is in the thumbnails, not in the M4A


def test_a_pages_audio_is_kept_with_the_pages_artwork(client, user, drain, media_server, audio_files, tmp_path):
    # GIVEN a podcast-like page: an <audio> and an og:image
    video = saved(client, user, drain, media_server.url("files", "episode.html"))
    # THEN its sound is kept as audio and its artwork (fetched by yt-dlp) is the thumbnails
    assert (video["status"], video["kind"]) == ("ready", "audio"), video
    assert set(video["thumbnails"]) == {"small", "medium", "large"}
    path = tmp_path / "large.jpg"
    aws.client("s3").download_file(wiring.services().settings.bucket, video["thumbnails"]["large"], str(path))
    assert probe(path).video.width == 600


def test_a_silent_video_asked_for_as_audio_fails_clearly_leaving_nothing(client, user, drain, media_server,
                                                                        audio_files):
    body = capture(client, user, media_server.url("files", "silent.mp4"), audio_only=True).json_body
    assert drain() == 1
    job = jobs.get(body["job_id"])
    assert (job.status, job.error_code) == (jobs.FAILED, "no_audio")
    owner = User.get(user.user_id)
    assert bucket_keys() == [] and (owner.bytes_used, owner.bytes_reserved) == (0, 0)


def test_audio_of_a_link_is_kept_apart_from_its_video(client, user, drain, media_server, audio_files):
    url = media_server.url("files", "clip.mp4")
    as_video = saved(client, user, drain, url)
    as_audio = saved(client, user, drain, url, audio_only=True)
    assert (as_video["kind"], as_audio["kind"]) == ("video", "audio")
    assert as_video["video_id"] != as_audio["video_id"]
    again = capture(client, user, url, audio_only=True)
    assert again.status_code == 200 and again.json_body["video_id"] == as_audio["video_id"]


def test_audio_only_must_be_a_boolean(client, user, media_server):
    response = capture(client, user, media_server.url("files", "tone.mp3"), audio_only="yes")
    assert response.status_code == 400 and response.json_body["error"]["code"] == "invalid_audio_only"
    assert Video.count() == 0


def test_a_record_saved_before_kinds_existed_reads_as_a_video(client, user):
    # GIVEN a record stored without the kind attribute (as every record was before audio captures)
    now = datetime.now(UTC)
    Video("older", owner_id=user.user_id, created_at=now, updated_at=now, status="ready", source_url="https://a/b",
          canonical_url="https://a/b", owner_source=f"{user.user_id}#url:https://a/b", platform="generic").save()
    aws.client("dynamodb").update_item(TableName=Video.Meta.table_name, Key={"video_id": {"S": "older"}},
                                       UpdateExpression="REMOVE kind")
    assert "kind" not in aws.client("dynamodb").get_item(TableName=Video.Meta.table_name,
                                                         Key={"video_id": {"S": "older"}})["Item"]
    # THEN it reads, and is answered, as a video
    assert Video.get("older").kind == "video"
    assert get(client, user, "/api/videos/older").json_body["kind"] == "video"
