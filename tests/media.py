"""Test media made on the spot by ffmpeg's lavfi sources (testsrc2 picture, sine tone).

Plain functions writing into a directory the caller gives; conftest wraps them in session-cached
fixtures. Encoders run with their fastest settings: a 2 s clip takes a fraction of a second.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

from chalicelib.media.tools import ffmpeg_exe

FAST_SETTINGS = {
    "libx264": ("-preset", "ultrafast"),
    "libx265": ("-preset", "ultrafast", "-x265-params", "log-level=error", "-tag:v", "hvc1"),
    "libvpx-vp9": ("-deadline", "realtime", "-cpu-used", "8"),
    "libaom-av1": ("-usage", "realtime", "-cpu-used", "8"),
}

# YouTube's automatic captions: each line shown again in the next cue, word timings inline, a 10 ms "hold" cue
ROLLING_CAPTIONS = """WEBVTT
Kind: captions
Language: en

00:00:00.000 --> 00:00:00.490 align:start position:0%

so<00:00:00.200><c> today</c><00:00:00.300><c> we</c>

00:00:00.490 --> 00:00:00.500 align:start position:0%
so today we
\u0020

00:00:00.500 --> 00:00:00.990 align:start position:0%
so today we
bake<00:00:00.700><c> sourdough</c>

00:00:00.990 --> 00:00:01.000 align:start position:0%
bake sourdough
\u0020

00:00:01.000 --> 00:00:01.500 align:start position:0%
bake sourdough
with &amp; without rye
"""
ROLLING_TRANSCRIPT = "so today we\nbake sourdough\nwith & without rye"  # each line once, tags gone


def ffmpeg(*args: str) -> None:
    subprocess.run([ffmpeg_exe(), "-hide_banner", "-loglevel", "error", "-nostdin", "-y", *args], check=True)


def make_clip(path, *, seconds: float = 2, width: int = 320, height: int = 240, vcodec: str = "libx264",
              acodec: str = "aac", container: str | None = None, fps: int = 25, pix_fmt: str = "yuv420p",
              audio: bool = True, extra: tuple[str, ...] = ()) -> Path:
    """A test pattern with a 440 Hz tone; the container follows the suffix unless given."""
    args = ["-f", "lavfi", "-i", f"testsrc2=size={width}x{height}:rate={fps}:duration={seconds}"]
    if audio:
        args += ["-f", "lavfi", "-i", f"sine=frequency=440:sample_rate=48000:duration={seconds}",
                 "-c:a", acodec]
    args += ["-c:v", vcodec, "-pix_fmt", pix_fmt, *FAST_SETTINGS.get(vcodec, ()), *extra]
    if container:
        args += ["-f", container]
    ffmpeg(*args, os.fspath(path))
    return Path(path)


def make_webm(path, **kwargs) -> Path:
    return make_clip(path, vcodec="libvpx-vp9", acodec="libopus", **kwargs)


def make_mkv(path, **kwargs) -> Path:
    """H.264 with Opus in Matroska: what yt-dlp merges when the best audio is Opus."""
    return make_clip(path, acodec="libopus", **kwargs)


def make_mov(path, **kwargs) -> Path:
    """A QuickTime file as phones write it, with PCM audio."""
    return make_clip(path, acodec="pcm_s16le", **kwargs)


def make_hevc(path, **kwargs) -> Path:
    return make_clip(path, vcodec="libx265", **kwargs)


def make_av1(path, **kwargs) -> Path:
    return make_clip(path, vcodec="libaom-av1", acodec="libopus", **kwargs)


def make_gif_like(path, *, seconds: float = 0.6, width: int = 480, height: int = 270) -> Path:
    """A silent looping MP4 shorter than a second, like an X "GIF"."""
    return make_clip(path, seconds=seconds, width=width, height=height, fps=15, audio=False)


def make_corrupt(path, *, kind: str = "garbage") -> Path:
    """``garbage``: random bytes; ``truncated``: an MP4 cut before its index (moov at the end);
    ``truncated_faststart``: index first, so it opens, but half of the media bytes are missing."""
    path = Path(path)
    if kind == "garbage":
        path.write_bytes(os.urandom(64 * 1024))
        return path
    extra = ("-movflags", "+faststart") if kind == "truncated_faststart" else ()
    make_clip(path, seconds=4, extra=extra)
    with path.open("r+b") as file:
        file.truncate(path.stat().st_size // 2)
    return path


def make_subtitled(path, srt_text: str, *, language: str = "eng") -> Path:
    """An MP4 whose subtitles are a mov_text stream (as phones and editors write them), stream 2."""
    path = Path(path)
    srt = path.with_suffix(".srt")
    srt.write_text(srt_text)
    ffmpeg("-f", "lavfi", "-i", "testsrc2=size=160x120:rate=25:duration=2", "-f", "lavfi",
           "-i", "sine=duration=2", "-i", str(srt), "-map", "0", "-map", "1", "-map", "2",
           "-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p", "-c:a", "aac",
           "-c:s", "mov_text", "-metadata:s:s:0", f"language={language}", str(path))
    return path


def make_large(path, size_bytes: int, *, seconds: float = 60, width: int = 1920, height: int = 1080) -> Path:
    """An H.264/AAC MP4 of about ``size_bytes`` lasting about ``seconds``, made in a few seconds.

    A 2 s noisy segment is encoded at the needed bitrate, then looped by stream copy until the
    file reaches the size.
    """
    path = Path(path)
    segment = path.with_name(f"{path.stem}.segment.mp4")
    bitrate = int(size_bytes * 8 / seconds)
    make_clip(segment, seconds=2, width=width, height=height, fps=30,
              extra=("-vf", "noise=alls=30:allf=t", "-b:v", str(bitrate), "-maxrate", str(bitrate),
                     "-bufsize", str(bitrate // 2), "-x264-params", "nal-hrd=cbr"))
    ffmpeg("-stream_loop", "-1", "-i", os.fspath(segment), "-c", "copy", "-fs", str(size_bytes),
           "-t", str(seconds * 2), os.fspath(path))
    segment.unlink()
    return path


def make_hls(out_dir, *, seconds: float = 4, segment_seconds: int = 1, fps: int = 25, **kwargs) -> Path:
    """A VOD HLS rendition (H.264/AAC in MPEG-TS segments); returns the playlist path."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    return make_clip(out_dir / "index.m3u8", seconds=seconds, fps=fps, container="hls",
                     extra=("-g", str(fps * segment_seconds), "-hls_time", str(segment_seconds),
                            "-hls_playlist_type", "vod",
                            "-hls_segment_filename", os.fspath(out_dir / "segment%03d.ts")), **kwargs)


def top_level_boxes(path) -> list[str]:
    """The MP4's top-level box types in file order (``moov`` before ``mdat`` means faststart)."""
    boxes = []
    with Path(path).open("rb") as file:
        while header := file.read(8):
            size, kind = int.from_bytes(header[:4], "big"), header[4:].decode("latin-1")
            if size == 1:
                size = int.from_bytes(file.read(8), "big") - 8
            boxes.append(kind)
            if size == 0:  # the box runs to the end of the file
                break
            file.seek(size - 8, os.SEEK_CUR)
    return boxes


def recording_ffmpeg(directory) -> tuple[Path, Path]:
    """A wrapper for ``PRSNL_FFMPEG`` that logs each invocation's arguments, one line per process,
    then runs the real ffmpeg: lets a test count processes without mocking our code."""
    directory = Path(directory)
    script, log = directory / "ffmpeg", directory / "ffmpeg.log"
    script.write_text(f'#!/bin/sh\necho "$*" >> "{log}"\nexec "{ffmpeg_exe()}" "$@"\n')
    script.chmod(0o755)
    return script, log


def make_audio(path, *, seconds: float = 3, codec: str = "aac", bitrate: str = "96k", cover: bool = False) -> Path:
    """A 440 Hz tone with no picture (an MP3, an M4A...), the container following the suffix; ``cover`` embeds a
    test-pattern picture as cover art (an attached picture, as tagged music files carry)."""
    args = ["-f", "lavfi", "-i", f"sine=frequency=440:sample_rate=44100:duration={seconds}"]
    if cover:
        args += ["-f", "lavfi", "-i", "testsrc2=size=400x400:rate=1:duration=1", "-map", "0:a", "-map", "1:v",
                 "-c:v", "mjpeg", "-disposition:v", "attached_pic", "-id3v2_version", "3"]
    ffmpeg(*args, "-c:a", codec, "-b:a", bitrate, os.fspath(path))
    return Path(path)
