"""plan() decides remux or transcode from probe facts alone: table tests, no ffmpeg."""

import pytest

from chalicelib.config import MB, load_settings
from chalicelib.errors import BadRequestError, PermanentJobError
from chalicelib.media.probe import AudioInfo, MediaInfo, VideoInfo
from chalicelib.media.transcode import AUDIO_BITRATE, COMPRESS_CRF, CRF, MIN_COMPRESS_BITRATE, Limits, plan

LIMITS = Limits(max_height=1080, compress_above_bytes=200 * MB, max_bitrate=8_000_000)


def media(*, codec="h264", profile="High", pix_fmt="yuv420p", width=1920, height=1080, audio="aac",
          size=50 * MB, duration=60.0, video=True) -> MediaInfo:
    return MediaInfo(
        format_name="mov,mp4,m4a,3gp,3g2,mj2",
        duration=duration,
        size=size,
        bit_rate=int(size * 8 / duration),
        video=VideoInfo(0, codec, profile, pix_fmt, width, height, 30.0, None) if video else None,
        audio=AudioInfo(1, audio, 48000, 2, None) if audio else None,
    )


@pytest.mark.parametrize(("source", "video", "audio", "kind"), [
    (media(), "copy", "copy", "remux"),
    (media(profile="Main"), "copy", "copy", "remux"),
    (media(profile="Constrained Baseline", pix_fmt="yuvj420p"), "copy", "copy", "remux"),
    (media(audio=None), "copy", None, "remux"),
    (media(width=1080, height=1920), "copy", "copy", "remux"),
    (media(audio="opus"), "copy", "aac", "transcode"),
    (media(audio="pcm_s16le"), "copy", "aac", "transcode"),
    (media(codec="vp9", profile="Profile 0", audio="opus"), "h264", "aac", "transcode"),
    (media(codec="hevc", profile="Main"), "h264", "copy", "transcode"),
    (media(codec="av1", profile="Main", audio="opus"), "h264", "aac", "transcode"),
    (media(profile="High 10", pix_fmt="yuv420p10le"), "h264", "copy", "transcode"),
    (media(profile="High 4:4:4 Predictive", pix_fmt="yuv444p"), "h264", "copy", "transcode"),
])
def test_plan_copies_only_what_browsers_play_when_within_caps(source, video, audio, kind):
    # WHEN planning a file within every cap
    p = plan(source, LIMITS)

    # THEN browser-ready streams are copied and the others encoded
    assert (p.kind, p.video, p.audio) == (kind, video, audio)


def test_plan_is_a_plain_remux_when_already_h264_aac():
    p = plan(media(), LIMITS)

    assert p.kind == "remux"
    assert (p.height, p.crf, p.maxrate) == (None, None, None)


@pytest.mark.parametrize(("width", "height", "expected"), [
    (3840, 2160, 1080),
    (2560, 1440, 1080),
    (2160, 3840, 1080),  # portrait: the short side is the "p"
    (1280, 720, 720),
    (853, 479, 478),  # odd short side: H.264 4:2:0 needs even dimensions
])
def test_plan_scales_down_to_max_height_when_above_it(width, height, expected):
    p = plan(media(codec="vp9", width=width, height=height), LIMITS)

    assert p.kind == "transcode"
    assert p.height == expected
    assert (p.crf, p.maxrate) == (CRF, LIMITS.max_bitrate)


def test_plan_transcodes_h264_when_above_max_height():
    p = plan(media(width=3840, height=2160), LIMITS)

    assert (p.kind, p.video, p.audio, p.height) == ("transcode", "h264", "copy", 1080)


def test_plan_compresses_when_above_compress_threshold():
    # GIVEN a browser-ready file of 400 s, above the 200 MB threshold
    source = media(size=300 * MB, duration=400.0)

    # WHEN planning
    p = plan(source, LIMITS)

    # THEN it is re-encoded harder, with a cap that fits the threshold over the duration
    assert (p.kind, p.video, p.crf, p.height) == ("transcode", "h264", COMPRESS_CRF, 1080)
    assert p.maxrate == int(200 * MB * 8 / 400) - AUDIO_BITRATE
    assert p.maxrate < LIMITS.max_bitrate


@pytest.mark.parametrize(("duration", "maxrate"), [
    (10.0, 8_000_000),  # short: the general cap
    (4 * 3600.0, MIN_COMPRESS_BITRATE),  # very long: never below a watchable floor
])
def test_plan_bounds_compression_bitrate(duration, maxrate):
    p = plan(media(size=300 * MB, duration=duration), LIMITS)

    assert p.maxrate == maxrate


@pytest.mark.parametrize(("target", "kind", "height"), [
    (720, "transcode", 720),
    (360, "transcode", 360),
    (1080, "remux", None),  # the source itself
])
def test_plan_makes_rendition_when_target_height_given(target, kind, height):
    p = plan(media(), LIMITS, target_height=target)

    assert (p.kind, p.height) == (kind, height)


def test_plan_refuses_upscale_when_target_above_source():
    with pytest.raises(BadRequestError) as error:
        plan(media(width=1280, height=720), LIMITS, target_height=1080)

    assert error.value.code == "upscale_refused"


def test_plan_fails_when_no_video_stream():
    with pytest.raises(PermanentJobError) as error:
        plan(media(video=False), LIMITS)

    assert error.value.code == "no_video"


def test_limits_follow_settings(monkeypatch):
    monkeypatch.setenv("PRSNL_MAX_HEIGHT", "720")
    monkeypatch.setenv("PRSNL_COMPRESS_ABOVE_BYTES", str(50 * MB))

    limits = Limits.from_settings(load_settings())

    assert (limits.max_height, limits.compress_above_bytes) == (720, 50 * MB)
    assert plan(media(), limits).height == 720
