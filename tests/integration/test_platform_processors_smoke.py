"""Smoke: capture one public link per platform for real (``make smoke-platforms``; not in ``make test``).

Runs only with PRSNL_SMOKE=1 and skips, saying so, when the internet cannot be reached.
Links come from yt-dlp's own extractor tests, so they are long-lived public items.
"""

from __future__ import annotations

import os
import socket

import imageio_ffmpeg
import pytest
import yt_dlp

from chalicelib.config import get_settings
from chalicelib.platforms import get_platform, resolve

PUBLIC = {
    "youtube": "https://www.youtube.com/watch?v=jNQXAC9IVRw",
    "twitter": "https://twitter.com/freethenipple/status/643211948184596480",
    "tiktok": "https://www.tiktok.com/@leenabhushan/video/6748451240264420610",
    "instagram": "https://www.instagram.com/p/aye83DjauH/",
    "generic": "https://www.w3schools.com/html/html5_video.asp",
    "direct": "https://www.w3schools.com/html/mov_bbb.mp4",
}

pytestmark = pytest.mark.skipif(os.environ.get("PRSNL_SMOKE") != "1", reason="smoke: set PRSNL_SMOKE=1")


@pytest.fixture(scope="module", autouse=True)
def internet():
    try:
        socket.create_connection(("www.youtube.com", 443), timeout=5).close()
    except OSError as exc:
        pytest.skip(f"smoke skipped: no internet ({exc})")


@pytest.mark.parametrize("name", PUBLIC)
def test_public_link_is_captured_for_real(name, tmp_path):
    resolved = resolve(PUBLIC[name])
    assert resolved.platform == name
    platform = get_platform(name)
    extras = {"outtmpl": str(tmp_path / "%(id)s.%(ext)s"), "ffmpeg_location": imageio_ffmpeg.get_ffmpeg_exe()}
    with yt_dlp.YoutubeDL(platform.ydl_options(get_settings()) | extras) as ydl:
        try:
            info = ydl.extract_info(resolved.canonical_url, download=False)
        except yt_dlp.utils.DownloadError as exc:
            error = platform.classify_error(exc)
            pytest.fail(f"{name}: {error.code}: {error.message}")
        first_video = next(item for item in platform.entries(info) if item["kind"] == "video")
        ydl.process_ie_result(first_video, download=True)
    assert platform.to_metadata(info)["title"]
    assert any(tmp_path.glob("*.mp4"))
