"""Which ffmpeg runs and what the deep health check reports."""

import re
from importlib.metadata import version

import pytest

from chalicelib.config import get_settings
from chalicelib.media.tools import ffmpeg_exe, tool_versions
from tests.media import make_clip, recording_ffmpeg


@pytest.fixture
def ffmpeg_setting(monkeypatch, request):
    """Sets PRSNL_FFMPEG (None: unset) for one test; settings are re-read then and after."""
    def configure(value: str | None) -> None:
        if value is None:
            monkeypatch.delenv("PRSNL_FFMPEG", raising=False)
        else:
            monkeypatch.setenv("PRSNL_FFMPEG", value)
        get_settings.cache_clear()

    request.addfinalizer(get_settings.cache_clear)
    return configure


def test_ffmpeg_exe_is_the_wheel_binary_when_not_configured(ffmpeg_setting):
    import imageio_ffmpeg

    ffmpeg_setting(None)

    assert ffmpeg_exe() == imageio_ffmpeg.get_ffmpeg_exe()


def test_ffmpeg_exe_is_the_configured_binary_when_set(tmp_path, ffmpeg_setting):
    script, log = recording_ffmpeg(tmp_path)
    ffmpeg_setting(str(script))

    make_clip(tmp_path / "clip.mp4", seconds=0.2)

    assert ffmpeg_exe() == str(script)
    assert "testsrc2" in log.read_text()


def test_tool_versions_reports_every_tool():
    versions = tool_versions()

    assert set(versions) == {"ffmpeg", "yt_dlp", "av"}
    assert re.match(r"n?\d+\.\d+", versions["ffmpeg"])
    assert (versions["yt_dlp"], versions["av"]) == (version("yt-dlp"), version("av"))
