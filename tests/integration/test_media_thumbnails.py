"""make_thumbnails() with the real ffmpeg: three JPEG sizes, never upscaled, from one process."""

import pytest

from chalicelib.config import get_settings
from chalicelib.media.probe import probe
from chalicelib.media.thumbnails import THUMBNAIL_WIDTHS, make_thumbnails
from tests.media import make_clip, make_gif_like, recording_ffmpeg


def sizes(paths) -> dict[str, tuple[int, int]]:
    return {name: (probe(path).video.width, probe(path).video.height) for name, path in paths.items()}


def test_make_thumbnails_writes_three_jpegs_when_source_is_large(tmp_path):
    src = make_clip(tmp_path / "in.mp4", seconds=1, width=1920, height=1080)

    paths = make_thumbnails(src, probe(src), tmp_path)

    assert set(paths) == set(THUMBNAIL_WIDTHS) == {"small", "medium", "large"}
    assert sizes(paths) == {"small": (320, 180), "medium": (640, 360), "large": (1280, 720)}
    assert all(path.read_bytes()[:3] == b"\xff\xd8\xff" for path in paths.values())


def test_make_thumbnails_never_upscales_when_source_is_narrow(tmp_path):
    src = make_clip(tmp_path / "in.mp4", seconds=1, width=480, height=270)

    paths = make_thumbnails(src, probe(src), tmp_path)

    assert sizes(paths) == {"small": (320, 180), "medium": (480, 270), "large": (480, 270)}


@pytest.mark.parametrize("seconds", [0.6, 0.1])
def test_make_thumbnails_works_when_clip_is_a_short_silent_loop(tmp_path, seconds):
    # GIVEN an X-style "GIF": silent, well under a second
    src = make_gif_like(tmp_path / "gif.mp4", seconds=seconds, width=480, height=270)

    paths = make_thumbnails(src, probe(src), tmp_path)

    assert sizes(paths)["medium"] == (480, 270)


def test_make_thumbnails_decodes_once(tmp_path, monkeypatch, request):
    # GIVEN ffmpeg behind a wrapper that logs every process it starts
    script, log = recording_ffmpeg(tmp_path)
    monkeypatch.setenv("PRSNL_FFMPEG", str(script))
    get_settings.cache_clear()
    request.addfinalizer(get_settings.cache_clear)
    src = make_clip(tmp_path / "in.mp4", seconds=1, width=1280, height=720, audio=False)
    info = probe(src)
    log.unlink()

    # WHEN the thumbnails are made
    make_thumbnails(src, info, tmp_path)

    # THEN one ffmpeg process with one input wrote all three files
    calls = log.read_text().splitlines()
    assert len(calls) == 1
    assert calls[0].split().count("-i") == 1


def mean_brightness(jpeg) -> float:
    """The mean of a JPEG's luma (0 black to 255 white)."""
    import av

    with av.open(str(jpeg)) as container:
        frame = next(container.decode(video=0))
    luma = bytes(frame.planes[0])
    return sum(luma) / len(luma)


def test_the_thumbnail_passes_over_a_black_frame_at_the_seek_point(tmp_path):
    # GIVEN a 20 s video with a keyframe every second, black for the second at its seek point (a cut, a fade)
    black = "drawbox=x=0:y=0:w=iw:h=ih:color=black:t=fill:enable='between(t,2,2.99)'"
    src = make_clip(tmp_path / "in.mp4", seconds=20, width=640, height=360, audio=False,
                    extra=("-vf", black, "-g", "25", "-keyint_min", "25", "-sc_threshold", "0"))
    info = probe(src)
    # WHEN its thumbnails are made
    paths = make_thumbnails(src, info, tmp_path)
    # THEN they show the picture, not the black keyframe the seek lands on
    assert mean_brightness(paths["medium"]) > 60
