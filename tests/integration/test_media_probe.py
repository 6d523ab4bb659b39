"""probe() on real files made by ffmpeg."""

import json
from dataclasses import asdict
from functools import partial

import pytest

from chalicelib.errors import PermanentJobError
from chalicelib.media.probe import MediaInfo, SubtitleInfo, probe
from tests.media import make_av1, make_clip, make_corrupt, make_gif_like, make_subtitled, make_webm


def test_probe_reads_container_video_and_audio(tmp_path):
    path = make_clip(tmp_path / "clip.mp4", seconds=2, width=320, height=240, fps=25)

    info = probe(path)

    assert "mp4" in info.format_name
    assert info.duration == pytest.approx(2.0, abs=0.05)
    assert info.size == path.stat().st_size
    assert info.bit_rate > 0
    video, audio = info.video, info.audio
    assert (video.codec, video.pix_fmt, video.fps) == ("h264", "yuv420p", 25)
    assert (video.width, video.height) == (320, 240)
    assert video.profile in {"Constrained Baseline", "Baseline", "Main", "High"}
    assert video.bit_rate > 0
    assert (audio.codec, audio.sample_rate, audio.channels) == ("aac", 48000, 1)
    assert audio.bit_rate > 0
    assert info.subtitles == ()


def test_probe_lists_the_files_own_subtitle_streams_and_they_survive_the_jobs_copy(tmp_path):
    # GIVEN an MP4 with a German mov_text subtitle stream after its video and audio
    path = make_subtitled(tmp_path / "subtitled.mp4", "1\n00:00:00,000 --> 00:00:01,000\nhallo\n", language="ger")
    # WHEN it is probed
    info = probe(path)
    # THEN the stream is listed with its codec and language (captions picks from these, without opening the file)
    assert info.subtitles == (SubtitleInfo(index=2, codec="mov_text", language="ger"),)
    # AND a fanned-out capture's copy of the probe on its job (JSON) comes back the same
    assert MediaInfo.from_dict(json.loads(json.dumps(asdict(info)))) == info


@pytest.mark.parametrize(("make", "codecs"), [
    (make_webm, ("vp9", "opus")),
    (make_av1, ("av1", "opus")),  # the codec, not the decoder's name (libdav1d)
])
def test_probe_names_codecs_when_not_h264(tmp_path, make, codecs):
    info = probe(make(tmp_path / "clip.mkv", seconds=1))

    assert (info.video.codec, info.audio.codec) == codecs
    assert info.duration == pytest.approx(1.0, abs=0.05)


def test_probe_has_no_audio_when_silent(tmp_path):
    info = probe(make_gif_like(tmp_path / "gif.mp4", seconds=0.6))

    assert info.audio is None
    assert info.video.codec == "h264"
    assert info.duration == pytest.approx(0.6, abs=0.05)


def write_empty(path):
    path.write_bytes(b"")
    return path


def write_subtitles(path):
    """A file ffmpeg reads fine but with neither audio nor video."""
    path.write_text("1\n00:00:00,000 --> 00:00:01,000\nhello\n")
    return path


@pytest.mark.parametrize(("make", "name"), [
    (partial(make_corrupt, kind="garbage"), "bad.mp4"),
    (partial(make_corrupt, kind="truncated"), "bad.mp4"),
    (write_empty, "empty.mp4"),
    (write_subtitles, "only.srt"),
])
def test_probe_fails_as_invalid_media_when_unreadable_or_without_streams(tmp_path, make, name):
    path = make(tmp_path / name)

    with pytest.raises(PermanentJobError) as error:
        probe(path)

    assert error.value.code == "invalid_media"
