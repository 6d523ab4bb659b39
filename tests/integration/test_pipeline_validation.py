"""Validation before download: the address guard (at capture, on redirects, in pages, under ffmpeg), metadata
first with stable error codes, a format that fits, and the byte limit during the download.

Real yt-dlp against the loopback media server; the guard refuses private addresses at name resolution, so
no test ever connects anywhere but 127.0.0.1. ``/stats`` hit counts prove that no media byte was fetched.
"""

from __future__ import annotations

import pytest

from chalicelib import capture, wiring
from chalicelib.errors import BlockedUrlError
from chalicelib.records import jobs, videos
from chalicelib.records.users import get_user
from tests import media as test_media

QUOTA = 10 * 1024**3


@pytest.fixture(autouse=True)
def loopback_allowed(settings_env, work_dir):
    settings_env(PRSNL_ALLOW_LOOPBACK_URLS="true")


@pytest.fixture(scope="module")
def hls(media_dir):
    """A 4 s VOD rendition, a live copy (no end tag), a master with a heavy and a light variant, and a
    playlist whose SAMPLE-AES key makes yt-dlp hand the download to ffmpeg."""
    root = media_dir / "validation-hls"
    if not root.exists():
        light = test_media.make_hls(root / "light", seconds=4, width=160, height=120)
        test_media.make_hls(root / "heavy", seconds=4, width=320, height=240)
        vod = light.read_text()
        (root / "light" / "live.m3u8").write_text(vod.replace("#EXT-X-ENDLIST\n", "")
                                                  .replace("#EXT-X-PLAYLIST-TYPE:VOD\n", ""))
        (root / "light" / "sample-aes.m3u8").write_text(
            vod.replace("#EXTINF", '#EXT-X-KEY:METHOD=SAMPLE-AES,URI="key.bin"\n#EXTINF', 1))
        (root / "master.m3u8").write_text(
            "#EXTM3U\n"
            "#EXT-X-STREAM-INF:BANDWIDTH=40000000,RESOLUTION=320x240,CODECS=\"avc1.42c00d,mp4a.40.2\"\n"
            "heavy/index.m3u8\n"
            "#EXT-X-STREAM-INF:BANDWIDTH=300000,RESOLUTION=160x120,CODECS=\"avc1.42c00d,mp4a.40.2\"\n"
            "light/index.m3u8\n")
    (media_dir / "no-video.html").write_text("<!doctype html><html><head><title>Words only</title></head>"
                                             "<body><p>No video here.</p></body></html>")
    (media_dir / "private-og.html").write_text(
        '<!doctype html><html><head><title>Embedded</title>'
        '<meta property="og:video" content="http://10.0.0.1/private/clip.mp4">'
        '<meta property="og:video:type" content="video/mp4"></head><body></body></html>')
    return root


def queue(url: str, owner: str = "alice") -> capture.CaptureResult:
    return capture.capture(url, owner_id=owner, services=wiring.services())


def outcome(result: capture.CaptureResult) -> tuple:
    job, video = jobs.get(result.job.job_id), videos.get(result.video.video_id)
    return job.status, job.error_code, job.attempts, video.status


def nothing_kept(work_dir) -> bool:
    """No object in the bucket, no temp dir, and the whole quota available again."""
    user = get_user("alice")
    return (not list(wiring.services().storage.list("")) and not any(work_dir.iterdir())
            and (user.bytes_available, user.bytes_reserved, user.bytes_used) == (QUOTA, 0, 0))


# --- the address guard ------------------------------------------------------------------------------------


def test_capture_refused_before_any_fetch_when_host_is_private(user, drain, media_server, settings_env):
    # GIVEN a stage that does not allow loopback (every stage but local; the API's local stage config allows it,
    # so the use case is called directly)
    settings_env(PRSNL_ALLOW_LOOPBACK_URLS="false")
    port = media_server.base_url.rsplit(":", 1)[1]
    links = [f"http://127.0.0.1:{port}/files/clip.mp4", f"http://0x7f000001:{port}/files/clip.mp4",
             f"http://[::1]:{port}/files/clip.mp4", f"http://[::ffff:127.0.0.1]:{port}/files/clip.mp4",
             "http://169.254.169.254/latest/meta-data/iam/", "http://10.0.0.1/clip.mp4"]
    before = media_server.hits()
    for link in links:
        # WHEN each is captured, THEN it is refused with a stable code
        with pytest.raises(BlockedUrlError) as refused:
            queue(link)
        assert refused.value.code == "blocked_url" and refused.value.http_status == 422
    # AND nothing was queued and the server saw no request
    assert drain() == 0
    assert media_server.hits() == before


@pytest.mark.parametrize("target", ["http://169.254.169.254/latest/meta-data/clip.mp4", "http://10.0.0.1/clip.mp4",
                                    "http://[::ffff:a9fe:a9fe]/clip.mp4"])
def test_redirect_to_private_address_refused_before_download(user, drain, media_server, work_dir, target):
    # GIVEN an allowed host whose link redirects to a private address
    result = queue(f"{media_server.url('redirect')}?to={target}")
    files_before = media_server.hits("/files/")
    # WHEN the worker runs it
    drain()
    # THEN it fails at once, with its reason, having fetched no media at all
    assert outcome(result) == (jobs.FAILED, "blocked_url", 1, videos.FAILED)
    assert "refused" in jobs.get(result.job.job_id).error_message
    assert media_server.hits("/files/") == files_before
    assert nothing_kept(work_dir)


def test_page_embedding_a_private_video_url_refused(user, drain, media_server, hls, work_dir):
    result = queue(media_server.url("files", "private-og.html"))
    drain()
    assert outcome(result) == (jobs.FAILED, "blocked_url", 1, videos.FAILED)
    assert nothing_kept(work_dir)


def test_stream_handed_to_ffmpeg_cannot_fetch_anything(user, drain, media_server, hls, work_dir):
    # GIVEN an HLS playlist with a feature yt-dlp leaves to ffmpeg, whose connections the guard cannot see
    result = queue(media_server.url("files", "validation-hls/light/sample-aes.m3u8"))
    # WHEN the worker runs it
    drain()
    # THEN ffmpeg may only read local files: no segment was fetched and the job failed
    assert jobs.get(result.job.job_id).status == jobs.FAILED
    assert media_server.hits("/files/validation-hls/light/segment") == 0
    assert nothing_kept(work_dir)


# --- metadata first ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(("name", "code"), [("no-video.html", "unsupported_url"), ("missing.mp4", "not_found")])
def test_link_without_media_fails_at_once_with_its_code(user, drain, media_server, hls, work_dir, name, code):
    result = queue(media_server.url("files", name))
    drain()
    assert outcome(result) == (jobs.FAILED, code, 1, videos.FAILED)
    assert nothing_kept(work_dir)


def test_file_over_the_limit_refused_from_its_size_before_download(user, drain, media_server, media_dir, work_dir,
                                                                   settings_env):
    # GIVEN a limit below the size the server announces
    settings_env(PRSNL_MAX_VIDEO_BYTES=(media_dir / "clip.mp4").stat().st_size // 2)
    result = queue(media_server.url("files", "clip.mp4") + "?too=large")
    drain()
    # THEN it fails before any download starts
    job = jobs.get(result.job.job_id)
    assert outcome(result) == (jobs.FAILED, "too_large", 1, videos.FAILED)
    assert "over the limit" in job.error_message
    assert nothing_kept(work_dir)


def test_stream_over_the_duration_limit_refused_before_any_segment(user, drain, media_server, hls, work_dir,
                                                                   settings_env):
    settings_env(PRSNL_MAX_DURATION_SECONDS=2)
    result = queue(media_server.url("files", "validation-hls/heavy/index.m3u8"))
    drain()
    assert outcome(result) == (jobs.FAILED, "too_long", 1, videos.FAILED)
    assert media_server.hits("/files/validation-hls/heavy/segment") == 0
    assert nothing_kept(work_dir)


def test_live_stream_refused_before_any_segment(user, drain, media_server, hls, work_dir):
    before = media_server.hits("/files/validation-hls/light/segment")
    result = queue(media_server.url("files", "validation-hls/light/live.m3u8"))
    drain()
    assert outcome(result) == (jobs.FAILED, "live_stream", 1, videos.FAILED)
    assert media_server.hits("/files/validation-hls/light/segment") == before
    assert nothing_kept(work_dir)


def test_variant_that_fits_the_limit_is_chosen(user, drain, media_server, hls, work_dir, settings_env):
    # GIVEN a master playlist whose heavy variant (40 Mb/s over 4 s: 20 MB) is over a 1 MB limit
    settings_env(PRSNL_MAX_VIDEO_BYTES=1024 * 1024)
    heavy_before = media_server.hits("/files/validation-hls/heavy/segment")
    result = queue(media_server.url("files", "validation-hls/master.m3u8"))
    # WHEN the worker runs it
    drain()
    # THEN the light variant is saved and no segment of the heavy one was fetched
    video = videos.get(result.video.video_id)
    assert (video.status, video.width, video.height) == (videos.READY, 160, 120)
    assert media_server.hits("/files/validation-hls/heavy/segment") == heavy_before
    assert not any(work_dir.iterdir())


def test_server_lying_about_size_stopped_at_the_limit(user, drain, media_server, media_dir, work_dir, settings_env):
    # GIVEN a server whose HEAD claims 1 kB and whose GET sends no length, and a limit below the real size
    settings_env(PRSNL_MAX_VIDEO_BYTES=(media_dir / "clip.mp4").stat().st_size // 2)
    result = queue(media_server.url("nolength", "clip.mp4"))
    # WHEN the worker downloads it
    drain()
    # THEN the download stops at the limit, fails for good, and leaves nothing: no part file, no reservation
    assert outcome(result) == (jobs.FAILED, "too_large", 1, videos.FAILED)
    assert nothing_kept(work_dir)
