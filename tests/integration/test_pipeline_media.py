"""Processing and storage end to end: HLS, og:video and JSON-LD pages, WebM/VP9, MKV, corrupt media, a video
over 100 MB, a video over the compression threshold, ten captures at once through the local worker loop; keys,
headers, metadata, sizes, quota, temp files.

Real yt-dlp and ffmpeg against the loopback media server, S3/DynamoDB/SQS on in-process moto.
"""

from __future__ import annotations

import re
import threading
import time

import pytest

from chalicelib import aws, capture, wiring
from chalicelib.config import MB
from chalicelib.local import worker_loop
from chalicelib.media.probe import probe
from chalicelib.records import jobs, videos
from chalicelib.records.users import get_user
from chalicelib.storage import layout
from tests import media as test_media

QUOTA = 10 * 1024**3


@pytest.fixture(autouse=True)
def loopback_allowed(settings_env, work_dir):
    settings_env(PRSNL_ALLOW_LOOPBACK_URLS="true")


@pytest.fixture(scope="module")
def pages(media_dir, media_server):
    """An HLS rendition and a page describing the clip with JSON-LD, as news and video sites do."""
    if not (media_dir / "media-hls").exists():
        test_media.make_hls(media_dir / "media-hls", seconds=3)
    clip = media_server.url("files", "clip.mp4")
    (media_dir / "described.html").write_text(
        '<!doctype html><html><head><title>Described</title><script type="application/ld+json">'
        '{"@context": "https://schema.org", "@type": "VideoObject", "name": "A described clip",'
        ' "description": "Two seconds of test pattern.", "uploadDate": "2024-05-17T10:00:00Z",'
        f' "author": {{"@type": "Person", "name": "Test Author"}}, "contentUrl": "{clip}",'
        ' "thumbnailUrl": "https://example.com/t.jpg"}</script></head><body></body></html>')


def queue(url: str) -> capture.CaptureResult:
    return capture.capture(url, owner_id="alice", services=wiring.services())


def stored(video: videos.Video, tmp_path):
    """The stored MP4, fetched back from S3 and probed."""
    path = tmp_path / "stored.mp4"
    aws.client("s3").download_file(wiring.services().settings.bucket, video.file_key, str(path))
    return probe(path)


@pytest.mark.parametrize("name", ["media-hls/index.m3u8", "clip.webm", "clip.mkv"])
def test_stream_and_other_containers_become_browser_mp4(user, drain, media_server, media_dir, pages, work_dir,
                                                        tmp_path, name):
    result = queue(media_server.url("files", name))
    drain()
    video = videos.get(result.video.video_id)
    assert video.status == videos.READY, video.error_message
    out = stored(video, tmp_path)
    assert (out.format_name.split(",")[0], out.video.codec, out.video.pix_fmt, out.audio.codec) == \
        ("mov", "h264", "yuv420p", "aac")
    assert out.duration == pytest.approx(video.duration, abs=0.1)
    assert not any(work_dir.iterdir())


def test_page_with_og_video_is_saved_with_its_title(user, drain, media_server, work_dir):
    result = queue(media_server.url("page", "clip.mp4"))
    drain()
    video = videos.get(result.video.video_id)
    assert video.status == videos.READY, video.error_message
    assert video.title.startswith("Sample page: clip.mp4")  # yt-dlp's title for the page's one video
    assert video.platform_meta["original_url"] == media_server.url("page", "clip.mp4")


def test_ready_record_carries_probe_and_platform_metadata_and_keys_per_layout(user, drain, media_server, pages,
                                                                             media_dir):
    # GIVEN a page that describes its video (title, author, date, description)
    result = queue(media_server.url("files", "described.html"))
    # WHEN the worker runs it
    drain()
    video = videos.get(result.video.video_id)
    assert video.status == videos.READY, video.error_message
    # THEN the record has the platform metadata
    meta = video.platform_meta
    assert (meta["title"], meta["uploader"], meta["upload_date"], meta["description"]) == \
        ("A described clip", "Test Author", "20240517", "Two seconds of test pattern.")
    assert meta["original_url"] == media_server.url("files", "described.html")
    # AND the probe metadata
    source = probe(media_dir / "clip.mp4")
    assert (video.width, video.height, video.codec, video.profile, video.pix_fmt, video.fps) == \
        (320, 240, "h264", source.video.profile, "yuv420p", 25)
    assert (video.audio_codec, video.sample_rate, video.channels) == ("aac", 48000, 1)
    assert video.average_bitrate and video.video_bitrate and video.audio_bitrate and video.filesize
    # AND the objects sit at the layout's keys with their type and a long cache lifetime
    month = f"{video.created_at:%Y/%m}"
    assert video.file_key == f"videos/{month}/{video.video_id}.mp4"
    assert video.thumbnails.as_dict() == {size: f"thumbnails/{month}/{video.video_id}_{size}.jpg"
                                          for size in ("small", "medium", "large")}
    s3, bucket = aws.client("s3"), wiring.services().settings.bucket
    for key, kind in [(video.file_key, "video/mp4"), *((k, "image/jpeg") for k in video.thumbnails.as_dict().values())]:
        head = s3.head_object(Bucket=bucket, Key=key)
        assert (head["ContentType"], head["CacheControl"]) == (kind, layout.CACHE_FOREVER)
    # AND the quota holds exactly what is stored
    total = sum(o["Size"] for o in wiring.services().storage.list(""))
    user_record = get_user("alice")
    assert (video.bytes_stored, user_record.bytes_used, user_record.bytes_reserved) == (total, total, 0)
    assert user_record.bytes_available == QUOTA - total


def test_corrupt_media_fails_as_invalid_media_leaving_nothing(user, drain, media_server, work_dir):
    result = queue(media_server.url("files", "corrupt.mp4"))
    drain()
    job = jobs.get(result.job.job_id)
    assert (job.status, job.error_code, job.attempts) == (jobs.FAILED, "invalid_media", 1)
    assert videos.get(result.video.video_id).status == videos.FAILED
    user_record = get_user("alice")
    assert (user_record.bytes_available, user_record.bytes_reserved, user_record.bytes_used) == (QUOTA, 0, 0)
    assert not list(wiring.services().storage.list(""))
    assert not any(work_dir.iterdir())


@pytest.fixture(scope="module")
def large_video(tmp_path_factory):
    path = tmp_path_factory.mktemp("large") / "large.mp4"
    return test_media.make_large(path, 105 * 1024 * 1024, seconds=20)


@pytest.mark.slow
def test_video_over_100_mb_end_to_end_with_multipart_upload(user, drain, large_video, work_dir, tmp_path):
    from chalicelib.local.samples import MediaServer

    server = MediaServer(large_video.parent).start()
    try:
        result = queue(server.url("files", "large.mp4"))
        drain()
    finally:
        server.stop()
    video = videos.get(result.video.video_id)
    assert video.status == videos.READY, video.error_message
    assert video.height == 1080 and video.bytes_stored > 100 * 1024 * 1024
    head = aws.client("s3").head_object(Bucket=wiring.services().settings.bucket, Key=video.file_key)
    assert re.fullmatch(r'"[0-9a-f]+-\d+"', head["ETag"])  # a multipart upload's ETag counts its parts
    assert head["ContentLength"] == video.filesize
    assert not any(work_dir.iterdir())


def test_video_over_compress_threshold_is_stored_within_it_with_its_duration(user, drain, media_dir, media_server,
                                                                             settings_env, work_dir, tmp_path):
    # GIVEN a 4 MB noisy video on the loopback server, and the compression threshold lowered to 1 MB
    source = probe(test_media.make_large(media_dir / "noisy.mp4", 4 * MB, seconds=6, width=640, height=360))
    settings_env(PRSNL_COMPRESS_ABOVE_BYTES=MB)
    # WHEN it is captured and the worker runs it
    result = queue(media_server.url("files", "noisy.mp4"))
    drain()
    # THEN what is stored fits the threshold and lasts as long as the source, to a frame
    video = videos.get(result.video.video_id)
    assert video.status == videos.READY, video.error_message
    head = aws.client("s3").head_object(Bucket=wiring.services().settings.bucket, Key=video.file_key)
    assert head["ContentLength"] == video.filesize <= MB
    out = stored(video, tmp_path)
    assert (out.video.codec, out.video.width, out.video.height) == ("h264", 640, 360)
    assert out.duration == pytest.approx(source.duration, abs=1 / source.video.fps)
    # AND the quota counts what is stored, and nothing is left behind
    assert get_user("alice").bytes_used == sum(o["Size"] for o in wiring.services().storage.list(""))
    assert not any(work_dir.iterdir())


def test_ten_captures_at_once_all_ready_with_no_temp_files(user, media_server, work_dir):
    # GIVEN ten different links queued
    results = [queue(media_server.url("files", "clip.mp4") + f"?copy={n}") for n in range(10)]
    # WHEN the local worker loop serves the queue four at a time
    stop = threading.Event()
    loop = threading.Thread(target=worker_loop.serve, args=(wiring.services().queue,),
                            kwargs={"concurrency": 4, "stop": stop, "poll_seconds": 1})
    loop.start()
    deadline = time.monotonic() + 120
    try:
        while time.monotonic() < deadline and any(jobs.get(r.job.job_id).status not in jobs.FINISHED
                                                  for r in results):
            time.sleep(0.5)
    finally:
        stop.set()
        loop.join()
    # THEN every one is ready, each stored once, counted once, and no temp file is left
    assert [jobs.get(r.job.job_id).status for r in results] == [jobs.SUCCEEDED] * 10
    assert all(videos.get(r.video.video_id).status == videos.READY for r in results)
    assert len(list(wiring.services().storage.list("videos/"))) == 10
    user_record = get_user("alice")
    assert (user_record.video_count, user_record.bytes_reserved) == (10, 0)
    assert user_record.bytes_used == sum(o["Size"] for o in wiring.services().storage.list(""))
    assert not any(work_dir.iterdir())
