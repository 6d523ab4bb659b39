"""plan() decides remux or transcode from probe facts alone: table tests, no ffmpeg."""

from dataclasses import replace

import pytest

from chalicelib.config import MB, load_settings
from chalicelib.errors import BadRequestError, PermanentJobError
from chalicelib.media.probe import AudioInfo, MediaInfo, VideoInfo
from chalicelib.media.transcode import (
    AUDIO_BITRATE,
    BUFFER_SECONDS,
    COMPRESS_CRF,
    CONTAINER_BYTES,
    CRF,
    INDEX_BYTES_PER_SECOND,
    MIN_COMPRESS_BITRATE,
    Limits,
    plan,
    refit,
)

LIMITS = Limits(max_height=1080, compress_above_bytes=200 * MB, max_bitrate=8_000_000)


def media(*, codec="h264", profile="High", pix_fmt="yuv420p", width=1920, height=1080, audio="aac",
          audio_rate=None, size=50 * MB, duration=60.0, video=True) -> MediaInfo:
    return MediaInfo(
        format_name="mov,mp4,m4a,3gp,3g2,mj2",
        duration=duration,
        size=size,
        bit_rate=int(size * 8 / duration),
        video=VideoInfo(0, codec, profile, pix_fmt, width, height, 30.0, None) if video else None,
        audio=AudioInfo(1, audio, 48000, 2, audio_rate) if audio else None,
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


def largest_output(p, audio_rate: int) -> float:
    """The most bytes the encoder may write under the plan: the capped rate over the duration plus one rate
    buffer (what VBV allows), the audio, and the MP4's boxes."""
    duration = p.source.duration
    video_bits = p.maxrate * (duration + BUFFER_SECONDS)
    return (video_bits + audio_rate * duration) / 8 + CONTAINER_BYTES + INDEX_BYTES_PER_SECOND * duration


def test_plan_compresses_when_above_compress_threshold():
    # GIVEN a browser-ready file of 400 s, above the 200 MB threshold
    source = media(size=300 * MB, duration=400.0)

    # WHEN planning
    p = plan(source, LIMITS)

    # THEN it is re-encoded harder, held to the threshold, at a cap below the general one
    assert (p.kind, p.video, p.crf, p.height) == ("transcode", "h264", COMPRESS_CRF, 1080)
    assert p.max_bytes == 200 * MB
    assert p.maxrate < LIMITS.max_bitrate


@pytest.mark.parametrize(("source", "threshold", "audio_rate"), [
    (media(size=300 * MB, duration=400.0), 200 * MB, AUDIO_BITRATE),  # AAC copied, its rate unknown
    (media(size=300 * MB, duration=400.0, audio_rate=320_000), 200 * MB, 320_000),  # AAC copied at 320 kbit/s
    (media(size=300 * MB, duration=400.0, audio="opus"), 200 * MB, AUDIO_BITRATE),  # re-encoded to AAC
    (media(size=300 * MB, duration=400.0, audio=None), 200 * MB, 0),  # silent: all of it for the picture
    (media(size=12 * MB, duration=4.0), 2 * MB, AUDIO_BITRATE),  # short: the rate buffer weighs
    (media(size=400 * MB, duration=1800.0, codec="vp9"), 300 * MB, AUDIO_BITRATE),  # under it, but encoded
])
def test_plan_fits_threshold_with_room_for_audio_boxes_and_buffer(source, threshold, audio_rate):
    # WHEN planning an encode
    p = plan(source, Limits(compress_above_bytes=threshold))

    # THEN even the largest output the encoder may write fits the threshold, and not by much
    assert p.max_bytes == threshold
    assert 0.95 * threshold <= largest_output(p, audio_rate) <= threshold


@pytest.mark.parametrize(("duration", "maxrate", "max_bytes"), [
    (10.0, 8_000_000, 200 * MB),  # short: the general cap, well within the threshold
    (4 * 3600.0, MIN_COMPRESS_BITRATE, None),  # very long: never below a watchable floor, which does not fit
])
def test_plan_bounds_compression_bitrate(duration, maxrate, max_bytes):
    p = plan(media(size=300 * MB, duration=duration), LIMITS)

    assert (p.maxrate, p.max_bytes) == (maxrate, max_bytes)


def test_plan_holds_no_size_when_duration_unknown():
    p = plan(replace(media(size=300 * MB), duration=0.0), LIMITS)

    assert (p.maxrate, p.max_bytes) == (LIMITS.max_bitrate, None)


FIRST = plan(media(size=300 * MB, duration=400.0), LIMITS)


def output(size: int) -> MediaInfo:
    return replace(FIRST.source, size=size)


@pytest.mark.parametrize("overshoot", [1.02, 1.5, 3.0])
def test_refit_lowers_the_rate_so_the_second_pass_fits_when_the_first_overshot(overshoot):
    # GIVEN a first pass that came out over its 200 MB target
    first_size = int(FIRST.max_bytes * overshoot)

    # WHEN refitting
    second = refit(FIRST, output(first_size))

    # THEN the rate drops at least as much as the video overshot, so an output that scales with it fits
    other = largest_output(FIRST, AUDIO_BITRATE) - FIRST.maxrate * (FIRST.source.duration + BUFFER_SECONDS) / 8
    predicted = other + (first_size - other) * second.maxrate / FIRST.maxrate
    assert second.maxrate < FIRST.maxrate
    assert predicted <= FIRST.max_bytes
    assert (second.crf, second.height, second.max_bytes) == (FIRST.crf, FIRST.height, FIRST.max_bytes)


def test_refit_stops_at_the_floor_when_the_overshoot_is_huge():
    second = refit(FIRST, output(FIRST.max_bytes * 50))

    assert second.maxrate == MIN_COMPRESS_BITRATE
    assert refit(second, output(FIRST.max_bytes * 2)) is None  # nothing lower is left to try


def test_refit_is_none_when_the_output_fits():
    assert refit(FIRST, output(FIRST.max_bytes)) is None


def test_refit_is_none_when_no_size_was_promised():
    unheld = plan(media(size=300 * MB, duration=4 * 3600.0), LIMITS)

    assert refit(unheld, output(10 * FIRST.max_bytes)) is None


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
