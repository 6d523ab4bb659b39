"""Platform processors with real yt-dlp: its own format selector on recorded info dicts, and real
downloads of every item of a post from an HTTP server on 127.0.0.1 (nothing leaves the machine).
"""

from __future__ import annotations

import subprocess
import threading
from dataclasses import replace
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer

import imageio_ffmpeg
import pytest
import yt_dlp

from chalicelib.config import MB, get_settings
from chalicelib.platforms import get_platform
from tests import fakes

CLOSED_PORT = "http://127.0.0.1:9"


def recorded(name: str, media: str = CLOSED_PORT) -> dict:
    return fakes.recorded(name, media)


def select(platform: str, info: dict, **settings) -> dict:
    """yt-dlp's own processing of an extracted info dict (format choice), without downloading."""
    opts = get_platform(platform).ydl_options(replace(get_settings(), **settings))
    with yt_dlp.YoutubeDL(opts) as ydl:
        return ydl.process_ie_result(info, download=False)


def chosen(info: dict) -> str:
    return info["format_id"]


# --- format choice ------------------------------------------------------------------------------


def test_youtube_takes_h264_and_aac_when_av1_and_vp9_are_offered_first():
    info = select("youtube", recorded("youtube_video"))
    assert chosen(info) == "137+140"
    assert [f["vcodec"].split(".")[0] for f in info["requested_formats"]] == ["avc1", "none"]
    assert info["ext"] == "mp4"


def test_youtube_takes_smaller_h264_when_full_hd_h264_is_over_the_limit():
    # GIVEN a limit that the 1080p H.264 (80 MB) breaks but the 1080p AV1 (45 MB) would fit
    info = select("youtube", recorded("youtube_video"), max_video_bytes=50 * 1000 * 1000)
    # THEN the 720p H.264 is taken: it fits, and it remuxes instead of transcoding
    assert chosen(info) == "136+140"


def test_youtube_stays_within_max_height_when_4k_is_offered():
    assert chosen(select("youtube", recorded("youtube_video"), max_height=720)) == "136+140"


def test_youtube_reports_a_size_over_the_limit_when_nothing_fits():
    # GIVEN a limit no format fits
    info = select("youtube", recorded("youtube_video"), max_video_bytes=1 * MB)
    # THEN yt-dlp still answers, with sizes that let the worker refuse the item as too large
    assert sum(f["filesize"] for f in info["requested_formats"]) > 1 * MB


def test_youtube_without_h264_takes_the_best_other_codec_within_max_height():
    info = recorded("youtube_video")
    info["formats"] = [f for f in info["formats"] if not f["vcodec"].startswith("avc1")]
    chosen_info = select("youtube", info)
    assert chosen_info["height"] == 1080 and chosen_info["acodec"] != "none"


def test_tiktok_takes_the_h264_format_without_watermark_and_without_the_music_track():
    info = select("tiktok", recorded("tiktok_video"))
    assert chosen(info) == "h264_540p_1500000"
    assert "requested_formats" not in info  # the video keeps its own sound; the music track is not merged in


def test_tiktok_photo_post_gives_its_pictures_after_yt_dlp_processed_it():
    info = select("tiktok", recorded("tiktok_photo_post"))  # the pictures have no formats: yt-dlp lets them be
    assert [i["kind"] for i in get_platform("tiktok").entries(info)] == ["image", "image", "image"]


def test_twitter_post_gives_every_video_with_its_best_variant():
    info = select("twitter", recorded("twitter_multi_video"))
    items = get_platform("twitter").entries(info)
    assert [(i["id"], chosen(i), i["gif"]) for i in items] == [
        ("1585341970000000001", "http-2176", False),
        ("1585341970000000002", "http-2176", False),
        ("1585341970000000003", "http", True),
    ]


def test_instagram_carousel_is_read_whole_when_it_mixes_videos_and_pictures():
    info = select("instagram", recorded("instagram_carousel"))
    items = get_platform("instagram").entries(info)
    assert [i["kind"] for i in items] == ["video", "image", "video"]
    assert chosen(items[0]) == "102"


@pytest.mark.parametrize(("max_height", "expected"), [(1080, "hls-1080"), (480, "hls-480")])
def test_generic_page_takes_the_stream_within_max_height(max_height, expected):
    assert chosen(select("generic", recorded("generic_page_video"), max_height=max_height)) == expected


# --- real downloads from loopback ---------------------------------------------------------------


@pytest.fixture(scope="module")
def media_server(tmp_path_factory):
    """Serves one tiny H.264/AAC clip at every .mp4 path, as the platforms' CDNs would."""
    root = tmp_path_factory.mktemp("media")
    clip = root / "clip.mp4"
    subprocess.run(
        [
            imageio_ffmpeg.get_ffmpeg_exe(),
            "-v",
            "error",
            "-f",
            "lavfi",
            "-i",
            "testsrc=size=64x64:rate=10:d=0.5",
            "-f",
            "lavfi",
            "-i",
            "sine=d=0.5",
            "-c:v",
            "libx264",
            "-c:a",
            "aac",
            "-shortest",
            str(clip),
        ],
        check=True,
    )

    class OneClip(SimpleHTTPRequestHandler):
        def translate_path(self, path):
            return str(clip) if path.split("?")[0].endswith(".mp4") else str(root / "missing")

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), partial(OneClip, directory=str(root)))
    threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_port}", clip.stat().st_size
    server.shutdown()


@pytest.mark.parametrize(
    ("platform", "fixture", "count"),
    [
        ("twitter", "twitter_multi_video", 3),
        ("instagram", "instagram_carousel", 2),
        ("direct", "direct_file", 1),
    ],
)
def test_every_video_of_a_post_downloads_with_platform_options(
    platform, fixture, count, media_server, tmp_path
):
    # GIVEN a recorded post whose media live on the loopback server
    base, size = media_server
    opts = get_platform(platform).ydl_options(get_settings()) | {"outtmpl": str(tmp_path / "%(id)s.%(ext)s")}
    with yt_dlp.YoutubeDL(opts) as ydl:
        info = ydl.process_ie_result(recorded(fixture, base), download=False)
        videos = [item for item in get_platform(platform).entries(info) if item["kind"] == "video"]
        # WHEN each video item is downloaded
        for item in videos:
            ydl.process_ie_result(item, download=True)
    # THEN every video of the post is on disk, named by its id
    files = sorted(tmp_path.glob("*.mp4"))
    assert [f.stem for f in files] == sorted(item["id"] for item in videos)
    assert len(files) == count and all(f.stat().st_size == size for f in files)
