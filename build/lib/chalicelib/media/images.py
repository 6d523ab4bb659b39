"""Image captures (photos and image files sent to the bot): the picture kept as a JPEG, with thumbnails.

An image is a video record of kind ``image`` whose file is the JPEG: it lists, counts against the
quota and is deleted like any capture. A JPEG is kept byte for byte; other formats (PNG, WebP...)
are converted. The three thumbnails come from the same single decode, at the video sizes.
"""

from __future__ import annotations

import os
from pathlib import Path

from chalicelib.media.probe import probe, require_video
from chalicelib.media.thumbnails import JPEG_QUALITY, THUMBNAIL_WIDTHS
from chalicelib.media.tools import run_ffmpeg

KEEP_CODECS = ("mjpeg",)


def prepare(src: Path, workdir: Path) -> tuple[Path, dict[str, Path], dict]:
    """The JPEG to store, its thumbnails by size and the record fields (width, height, codec, filesize)."""
    import ffmpeg

    picture = require_video(probe(src))
    image = src if picture.codec in KEEP_CODECS else workdir / "image.jpg"
    targets = {name: (workdir / f"{name}.jpg", width) for name, width in THUMBNAIL_WIDTHS.items()}
    if image != src:
        targets["image"] = (image, None)
    frames = ffmpeg.input(os.fspath(src)).video.filter_multi_output("split", len(targets))
    outputs = [
        (frames.stream(i) if width is None else frames.stream(i).filter("scale", f"min(iw,{width})", -2))
        .output(os.fspath(path), vframes=1, update=1, **{"q:v": JPEG_QUALITY})
        for i, (path, width) in enumerate(targets.values())
    ]
    run_ffmpeg(ffmpeg.merge_outputs(*outputs))
    record = {"width": picture.width, "height": picture.height, "codec": "mjpeg", "filesize": image.stat().st_size}
    return image, {name: targets[name][0] for name in THUMBNAIL_WIDTHS}, record
