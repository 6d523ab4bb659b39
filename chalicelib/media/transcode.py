"""Remux or transcode to a browser-safe MP4: a pure plan, then one ffmpeg run that is verified.

``plan()`` is pure so every decision (copy what browsers already play, scale down, compress) is a
table test; ``run()`` only turns the plan into an ffmpeg command. Heights are the short side of the
picture ("1080p"), so a portrait 1080x1920 phone video is already 1080p and is not shrunk.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass

from chalicelib.config import MB
from chalicelib.errors import BadRequestError, PermanentJobError
from chalicelib.media.probe import MediaInfo, VideoInfo, probe, require_video
from chalicelib.media.tools import run_ffmpeg

BROWSER_H264_PROFILES = frozenset({"Constrained Baseline", "Baseline", "Main", "High"})
BROWSER_PIX_FMTS = frozenset({"yuv420p", "yuvj420p"})
PRESET = "veryfast"
CRF = 23
COMPRESS_CRF = 28
AUDIO_BITRATE = 128_000
MIN_COMPRESS_BITRATE = 500_000
DEFAULT_MAX_BITRATE = 8_000_000
# The output may lose a little at the end (edit lists, audio priming) but not more.
MIN_OUTPUT_SHARE = 0.9


@dataclass(frozen=True)
class Limits:
    max_height: int = 1080
    compress_above_bytes: int = 200 * MB
    max_bitrate: int = DEFAULT_MAX_BITRATE

    @classmethod
    def from_settings(cls, settings) -> Limits:
        return cls(max_height=settings.max_height, compress_above_bytes=settings.compress_above_bytes,
                   max_bitrate=settings.max_bitrate)


@dataclass(frozen=True)
class Plan:
    """What to do with each stream: ``video`` is "copy" or "h264", ``audio`` "copy", "aac" or None."""

    source: MediaInfo
    video: str
    audio: str | None
    reason: str
    height: int | None = None
    crf: int | None = None
    maxrate: int | None = None

    @property
    def kind(self) -> str:
        return "remux" if self.video == "copy" and self.audio in ("copy", None) else "transcode"

    @property
    def encoding(self) -> Encoding:
        return Encoding(self.height, self.crf, self.maxrate)


@dataclass(frozen=True)
class Encoding:
    """What a segment's worker needs of the plan to encode its part of the picture (kept on its job's params)."""

    height: int
    crf: int
    maxrate: int
    threads: int = 0  # 0: ffmpeg's choice (every core); the benchmark runs one thread per local worker


def plan(info: MediaInfo, limits: Limits, target_height: int | None = None) -> Plan:
    """Copy what browsers already play within the caps; encode only what must change."""
    video = require_video(info)
    source_height = min(video.width, video.height)
    if target_height and target_height > source_height:
        raise BadRequestError(f"{target_height}p is above the source ({source_height}p)",
                              code="upscale_refused")
    height = min(source_height, limits.max_height, target_height or source_height)
    compress = info.size > limits.compress_above_bytes
    audio = None if info.audio is None else "copy" if info.audio.codec == "aac" else "aac"
    reasons = _failing([
        (_browser_h264(video), f"video is {video.codec} {video.profile} {video.pix_fmt}"),
        (height == source_height, f"scale to {height}p"),
        (not compress, "compress"),
    ])
    if not reasons:
        reason = f"audio is {info.audio.codec}" if audio == "aac" else "browser-ready"
        return Plan(info, video="copy", audio=audio, reason=reason)
    return Plan(info, video="h264", audio=audio, reason=", ".join(reasons), height=height - height % 2,
                crf=COMPRESS_CRF if compress else CRF, maxrate=_maxrate(info, limits, compress))


def run(p: Plan, src, dst, on_progress: Callable[[float], None] | None = None) -> MediaInfo:
    """Write ``dst`` as a faststart MP4, then probe it: what we store is checked, not assumed."""
    import ffmpeg

    source = ffmpeg.input(os.fspath(src))
    video = source[str(p.source.video.index)]
    streams = [video if p.video == "copy" else _scaled(video, p.height)]
    options = {"movflags": "+faststart", **_video_options(p)}
    if p.audio:
        streams.append(source[str(p.source.audio.index)])
        options.update(_audio_options(p))
    output = ffmpeg.output(*streams, os.fspath(dst), format="mp4", **options)
    run_ffmpeg(output, duration=p.source.duration, on_progress=on_progress)
    return verified(p, probe(dst))


def encode_video(encoding: Encoding, src, dst, *, duration: float,
                 on_progress: Callable[[float], None] | None = None) -> None:
    """The picture alone, as H.264 (a segment of a fanned-out transcode: the audio is muxed once, at the join)."""
    import ffmpeg

    video = _scaled(ffmpeg.input(os.fspath(src))["v:0"], encoding.height)
    output = ffmpeg.output(video, os.fspath(dst), format="mp4", threads=encoding.threads, **_h264(encoding))
    run_ffmpeg(output, duration=duration, on_progress=on_progress)


def encode_audio(p: Plan, src, dst) -> bool:
    """The sound alone, as the plan wants it (copied or AAC), in an M4A; False when the source has none."""
    import ffmpeg

    if not p.audio:
        return False
    audio = ffmpeg.input(os.fspath(src))[str(p.source.audio.index)]
    run_ffmpeg(ffmpeg.output(audio, os.fspath(dst), format="ipod", **_audio_options(p)))
    return True


def _browser_h264(video: VideoInfo) -> bool:
    return (video.codec == "h264" and video.profile in BROWSER_H264_PROFILES
            and video.pix_fmt in BROWSER_PIX_FMTS)


def _maxrate(info: MediaInfo, limits: Limits, compress: bool) -> int:
    """The bitrate cap; when compressing, also what fits the threshold over the whole duration."""
    if not compress or not info.duration:
        return limits.max_bitrate
    budget = int(limits.compress_above_bytes * 8 / info.duration) - AUDIO_BITRATE
    return max(MIN_COMPRESS_BITRATE, min(limits.max_bitrate, budget))


def _scaled(video, height: int):
    """Short side to ``height``, the other side even; evaluated after ffmpeg applies rotation."""
    portrait = "lt(iw,ih)"
    return (video.filter("scale", f"if({portrait},{height},-2)", f"if({portrait},-2,{height})")
            .filter("format", "yuv420p"))


def _video_options(p: Plan) -> dict:
    if p.video == "copy":
        return {"c:v": "copy"}
    return _h264(p.encoding)


def _h264(encoding: Encoding) -> dict:
    return {"c:v": "libx264", "preset": PRESET, "crf": encoding.crf, "maxrate": encoding.maxrate,
            "bufsize": 2 * encoding.maxrate}


def _audio_options(p: Plan) -> dict:
    if p.audio == "copy":
        return {"c:a": "copy"}
    return {"c:a": "aac", "b:a": AUDIO_BITRATE, "ac": min(p.source.audio.channels, 2)}


def verified(p: Plan, out: MediaInfo) -> MediaInfo:
    """What a stored file must be: MP4, H.264, AAC when there is sound, (nearly) the source's duration."""
    problems = _failing([
        ("mp4" in out.format_name, f"container {out.format_name}"),
        (out.video is not None and out.video.codec == "h264", "no H.264 video"),
        (not p.audio or (out.audio is not None and out.audio.codec == "aac"), "no AAC audio"),
        (out.duration >= p.source.duration * MIN_OUTPUT_SHARE,
         f"{out.duration:.1f} s of {p.source.duration:.1f} s"),
    ])
    if problems:
        raise PermanentJobError(f"output check failed: {'; '.join(problems)}", code="invalid_media")
    return out


def _failing(checks: list[tuple[bool, str]]) -> list[str]:
    """The messages of the checks that did not pass."""
    return [message for passed, message in checks if not passed]
