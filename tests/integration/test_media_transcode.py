"""run() with the real ffmpeg on tiny lavfi clips: every input comes out as a faststart H.264/AAC MP4."""

import hashlib
import time
from dataclasses import replace

import pytest

from chalicelib.config import MB
from chalicelib.errors import PermanentJobError
from chalicelib.media.probe import probe
from chalicelib.media.transcode import CRF, Limits, plan, run
from tests.media import (
    make_av1,
    make_clip,
    make_corrupt,
    make_hevc,
    make_hls,
    make_large,
    make_mkv,
    make_mov,
    make_webm,
    recording_ffmpeg,
    top_level_boxes,
)


def packet_digests(path, kind: str) -> list[str]:
    """One hash per demuxed packet of the first ``kind`` stream: equal lists mean no re-encode."""
    import av

    with av.open(str(path)) as container:
        stream = getattr(container.streams, kind)[0]
        return [hashlib.sha1(bytes(packet)).hexdigest() for packet in container.demux(stream) if packet.size]


def assert_browser_mp4(out, *, width, height, audio=True):
    assert "mp4" in out.format_name
    assert (out.video.codec, out.video.pix_fmt) == ("h264", "yuv420p")
    assert out.video.profile in {"Constrained Baseline", "Baseline", "Main", "High"}
    assert (out.video.width, out.video.height) == (width, height)
    assert (out.audio.codec if out.audio else None) == ("aac" if audio else None)


def faststart(path) -> bool:
    boxes = top_level_boxes(path)
    return boxes.index("moov") < boxes.index("mdat")


def test_run_remuxes_without_reencoding_when_h264_aac(tmp_path):
    # GIVEN an H.264/AAC MP4 with its index at the end (no faststart)
    src = make_clip(tmp_path / "in.mp4", seconds=2, width=640, height=360)
    assert not faststart(src)
    p = plan(probe(src), Limits())
    assert p.kind == "remux"

    # WHEN it runs
    started = time.monotonic()
    out = run(p, src, tmp_path / "out.mp4")

    # THEN the packets are the very same bytes, now behind a leading moov, in well under a second
    assert time.monotonic() - started < 2
    assert packet_digests(tmp_path / "out.mp4", "video") == packet_digests(src, "video")
    assert packet_digests(tmp_path / "out.mp4", "audio") == packet_digests(src, "audio")
    assert faststart(tmp_path / "out.mp4")
    assert_browser_mp4(out, width=640, height=360)


@pytest.mark.parametrize(("make", "name"), [
    (make_webm, "in.webm"),
    (make_mkv, "in.mkv"),
    (make_mov, "in.mov"),
    (make_hevc, "in.mp4"),
    (make_av1, "in.mp4"),
    (lambda path: make_clip(path, pix_fmt="yuv420p10le"), "high10.mp4"),
])
def test_run_outputs_browser_mp4_when_input_is_not(tmp_path, make, name):
    src = make(tmp_path / name)

    out = run(plan(probe(src), Limits()), src, tmp_path / "out.mp4")

    assert_browser_mp4(out, width=320, height=240)
    assert out.duration == pytest.approx(2.0, abs=0.1)
    assert faststart(tmp_path / "out.mp4")


def test_run_remuxes_hls_rendition_into_one_mp4(tmp_path):
    playlist = make_hls(tmp_path / "hls", seconds=3)

    out = run(plan(probe(playlist), Limits()), playlist, tmp_path / "out.mp4")

    assert_browser_mp4(out, width=320, height=240)
    assert out.duration == pytest.approx(3.0, abs=0.1)


def test_run_keeps_silent_clip_silent(tmp_path):
    src = make_webm(tmp_path / "in.webm", audio=False, seconds=0.6)

    out = run(plan(probe(src), Limits()), src, tmp_path / "out.mp4")

    assert_browser_mp4(out, width=320, height=240, audio=False)


@pytest.mark.parametrize(("width", "height", "expected"), [
    (2560, 1440, (1920, 1080)),
    (1440, 2560, (1080, 1920)),  # portrait keeps its orientation, short side 1080
])
def test_run_scales_down_to_1080p_when_above(tmp_path, width, height, expected):
    src = make_clip(tmp_path / "in.mp4", seconds=0.5, width=width, height=height)

    out = run(plan(probe(src), Limits()), src, tmp_path / "out.mp4")

    assert_browser_mp4(out, width=expected[0], height=expected[1])


def test_run_makes_rendition_when_target_height_given(tmp_path):
    src = make_clip(tmp_path / "in.mp4", seconds=1, width=1280, height=720)

    out = run(plan(probe(src), Limits(), target_height=360), src, tmp_path / "360p.mp4")

    assert_browser_mp4(out, width=640, height=360)


def test_run_compresses_when_above_threshold(tmp_path):
    # GIVEN a heavy 720p H.264 file, browser-ready, and a threshold just below its size
    src = make_clip(tmp_path / "in.mp4", seconds=2, width=1280, height=720)
    info = probe(src)
    compress = plan(info, Limits(compress_above_bytes=info.size - 1))
    assert (compress.kind, compress.reason) == ("transcode", "compress")

    # WHEN it is compressed, and for comparison transcoded without compression
    compressed = run(compress, src, tmp_path / "compressed.mp4")
    plain = run(replace(compress, crf=CRF, maxrate=Limits().max_bitrate), src, tmp_path / "plain.mp4")

    # THEN it is smaller than both
    assert compressed.size < plain.size < info.size
    assert_browser_mp4(compressed, width=1280, height=720)


@pytest.fixture(scope="module")
def noisy(tmp_path_factory):
    """About 4 MB of noisy 360p over 5 s, made at a high bitrate: it really needs compressing to fit 1 MB."""
    return make_large(tmp_path_factory.mktemp("noisy") / "noisy.mp4", 4 * MB, seconds=6, width=640, height=360)


@pytest.fixture
def ffmpeg_log(tmp_path, settings_env):
    """Every ffmpeg process the test starts, one line of arguments each."""
    script, log = recording_ffmpeg(tmp_path)
    settings_env(PRSNL_FFMPEG=script)
    return log


def encodes(log) -> list[int]:
    """The video bitrate cap of each encode run."""
    runs = [line.split() for line in log.read_text().splitlines()] if log.exists() else []
    return [int(args[args.index("-maxrate") + 1]) for args in runs]


def test_run_holds_compressed_output_under_threshold_in_one_pass(noisy, tmp_path, ffmpeg_log):
    # GIVEN a 4 MB noisy file and a threshold of 1 MB
    info = probe(noisy)
    p = plan(info, Limits(compress_above_bytes=MB))

    # WHEN it is compressed
    out = run(p, noisy, tmp_path / "out.mp4")

    # THEN one encode makes it fit, with all of its duration
    assert len(encodes(ffmpeg_log)) == 1
    assert out.size <= MB
    assert out.duration == pytest.approx(info.duration, abs=1 / info.video.fps)


def test_run_makes_a_second_pass_at_a_lower_rate_when_the_first_overshoots(noisy, tmp_path, ffmpeg_log):
    # GIVEN a plan whose first pass is three times too optimistic for the 1 MB it promises
    info = probe(noisy)
    fitting = plan(info, Limits(compress_above_bytes=MB))
    optimistic = replace(fitting, maxrate=3 * fitting.maxrate)

    # WHEN it runs
    out = run(optimistic, noisy, tmp_path / "out.mp4")

    # THEN a second encode at a lower rate brings it under 1 MB, with all of its duration
    first, second = encodes(ffmpeg_log)
    assert first == optimistic.maxrate > second
    assert out.size <= MB
    assert out.duration == pytest.approx(info.duration, abs=1 / info.video.fps)
    assert_browser_mp4(out, width=640, height=360)


def test_run_fails_as_too_large_when_the_second_pass_overshoots_too(noisy, tmp_path):
    # GIVEN a plan that promises 100 kB for 5 s of noise at a watchable rate: no pass can keep that
    p = replace(plan(probe(noisy), Limits(compress_above_bytes=MB)), max_bytes=100_000)

    # WHEN it runs, THEN it fails with a clear reason rather than store what is over the target
    with pytest.raises(PermanentJobError) as error:
        run(p, noisy, tmp_path / "out.mp4")

    assert error.value.code == "too_large"
    assert "still over the target of 100000" in error.value.message


def test_run_reports_progress_forward_up_to_the_end(tmp_path):
    # GIVEN an input whose downscale lasts about a second (ffmpeg reports every 0.5 s)
    src = make_clip(tmp_path / "in.mp4", seconds=1, width=2560, height=1440)
    fractions = []

    run(plan(probe(src), Limits()), src, tmp_path / "out.mp4", on_progress=fractions.append)

    # (how far ffmpeg got by its first report depends on the machine's load: only the order and the end are sure)
    assert fractions and fractions == sorted(fractions) and fractions[0] >= 0
    assert 0.95 <= fractions[-1] <= 1.0


def test_run_fails_as_invalid_media_when_input_truncated(tmp_path):
    # GIVEN an MP4 whose index survives but half of whose media bytes are missing
    src = make_corrupt(tmp_path / "cut.mp4", kind="truncated_faststart")
    info = probe(src)

    # WHEN it runs, THEN the output check catches the missing half
    with pytest.raises(PermanentJobError) as error:
        run(plan(info, Limits()), src, tmp_path / "out.mp4")

    assert error.value.code == "invalid_media"


def test_run_fails_as_invalid_media_when_ffmpeg_cannot_read(tmp_path):
    # GIVEN a plan made for a good file that is then overwritten with garbage
    src = make_clip(tmp_path / "in.mp4")
    p = plan(probe(src), Limits())
    make_corrupt(src, kind="garbage")

    # WHEN it runs, THEN ffmpeg's failure is reported with its reason
    with pytest.raises(PermanentJobError) as error:
        run(p, src, tmp_path / "out.mp4")

    assert error.value.code == "invalid_media"
    assert "ffmpeg failed" in error.value.message
