"""Three JPEG thumbnails (320, 640, 1280 px wide) from one decode of a representative frame.

The frame is chosen by the probed duration, never a fixed time: X GIFs and short clips last less
than a second. ffmpeg's ``thumbnail`` filter then picks the most typical of a window of keyframes
from there (no black frame from a cut), and ``split`` feeds that one frame to the three scales.
Only keyframes are decoded: a third of the CPU of decoding every frame of the window (0.45 -> 0.17
CPU-s for 1080p), the largest CPU step of a capture that needs no transcode. Each part runs on one thread:
for a few frames, ffmpeg's threads cost more to start than they share (a 20 MB 1080p clip of 5 keyframes:
186 -> 141 ms of CPU, 176 -> 130 ms of wall time, with ``probed_input``).
"""

from __future__ import annotations

import os
from pathlib import Path

from chalicelib.errors import PermanentJobError
from chalicelib.media.probe import MediaInfo, require_video
from chalicelib.media.tools import probed_input, run_ffmpeg

THUMBNAIL_WIDTHS = {"small": 320, "medium": 640, "large": 1280}
SEEK_SHARE = 0.1
# keyframes: 20 s of a video with one every 2 s (25 of them took 255 ms of CPU in a 4-minute 1080p video, 10 take 137)
WINDOW_FRAMES = 10
JPEG_QUALITY = 3  # ffmpeg's -q:v scale, 2 (best) to 31


def make_thumbnails(src, info: MediaInfo, out_dir) -> dict[str, Path]:
    """Write ``{name}.jpg`` into ``out_dir`` for each size; never wider than the source."""
    video = require_video(info)
    paths = {name: Path(out_dir) / f"{name}.jpg" for name in THUMBNAIL_WIDTHS}
    # A fast seek, to the keyframe before the seek point: an accurate one drops it, and it is a short clip's only
    # one. Its timestamp is then before the seek point, where ffmpeg would drop the frame: setpts starts at it.
    source = probed_input(src, info, ss=round(info.duration * SEEK_SHARE, 3), noaccurate_seek=None,
                          skip_frame="nokey", threads=1)
    keyframes = source[str(video.index)].filter("setpts", "PTS-STARTPTS")
    largest = max(THUMBNAIL_WIDTHS.values())
    # Shrink first: the window of frames the thumbnail filter holds stays small even for 4K.
    return _write_sizes(_at_most(keyframes, largest).filter("thumbnail", WINDOW_FRAMES), paths)


def from_picture(src, out_dir, stream_index: int | None = None) -> dict[str, Path]:
    """The three sizes of one picture: a platform's artwork file, or the cover art embedded in an audio file
    (``stream_index``)."""
    import ffmpeg

    source = ffmpeg.input(os.fspath(src))
    picture = source.video if stream_index is None else source[str(stream_index)]
    return _write_sizes(picture, {name: Path(out_dir) / f"{name}.jpg" for name in THUMBNAIL_WIDTHS})


def _write_sizes(picture, paths: dict[str, Path]) -> dict[str, Path]:
    """One frame of ``picture`` split to each size's JPEG, in one ffmpeg run."""
    import ffmpeg

    frame = picture.filter_multi_output("split", len(paths))
    outputs = [
        _at_most(frame.stream(i), width)
        .output(os.fspath(paths[name]), vframes=1, update=1, threads=1, **{"q:v": JPEG_QUALITY})
        for i, (name, width) in enumerate(THUMBNAIL_WIDTHS.items())
    ]
    run_ffmpeg(ffmpeg.merge_outputs(*outputs).global_args("-filter_complex_threads", "1"))
    if not all(path.exists() for path in paths.values()):
        raise PermanentJobError("no frame to make a thumbnail from", code="invalid_media")
    return paths


def _at_most(stream, width: int):
    return stream.filter("scale", f"min(iw,{width})", -2)
