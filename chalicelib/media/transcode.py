"""Remux or transcode to a browser-safe MP4: a pure plan, then one ffmpeg run that is verified.

``plan()`` is pure so every decision (copy what browsers already play, scale down, compress, the bitrate
that holds the output under the size threshold) is a table test, and so is ``refit()``, the second pass's
lower bitrate when the first came out too big; ``run()`` only turns plans into ffmpeg commands. Heights are
the short side of the picture ("1080p"), so a portrait 1080x1920 phone video is already 1080p and is not shrunk.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, replace

from chalicelib.config import MB
from chalicelib.errors import BadRequestError, PermanentJobError
from chalicelib.media.probe import MediaInfo, VideoInfo, probe, require_video
from chalicelib.media.tools import probed_input, run_ffmpeg
from chalicelib.observability import logger

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
# What the size threshold must leave free besides the video: the MP4's boxes (a fixed part, and an index that
# grows by some 12 bytes per video frame and 4 per audio frame) and the error of the estimate itself.
CONTAINER_BYTES = 64 * 1024
INDEX_BYTES_PER_SECOND = 1024
SIZE_MARGIN = 0.02
# The encoder's rate buffer (VBV), in seconds at the capped rate: it keeps the whole file within
# maxrate x duration + one buffer, so the buffer is paid out of the budget.
BUFFER_SECONDS = 1
# A second pass aims this much below what the first pass's overshoot says would just fit.
REFIT_MARGIN = 0.9


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
    max_bytes: int | None = None  # the size the output is held to (None: no bitrate above the floor fits it)

    @property
    def kind(self) -> str:
        return "remux" if self.video == "copy" and self.audio in ("copy", None) else "transcode"

    @property
    def bufsize(self) -> int:
        return self.encoding.bufsize

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

    @property
    def bufsize(self) -> int:
        return BUFFER_SECONDS * self.maxrate


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
    maxrate, max_bytes = _rate_for_size(info, audio, limits)
    return Plan(info, video="h264", audio=audio, reason=", ".join(reasons), height=height - height % 2,
                crf=COMPRESS_CRF if compress else CRF, maxrate=maxrate, max_bytes=max_bytes)


def refit(p: Plan, out: MediaInfo) -> Plan | None:
    """The plan of a second pass when the first came out over its target: the video bitrate scaled by how far
    the video overshot what it may take, with a margin. None when the output fits, or nothing lower can help."""
    if p.max_bytes is None or out.size <= p.max_bytes or p.maxrate <= MIN_COMPRESS_BITRATE:
        return None
    allowed = _video_bits(p.source, p.audio, p.max_bytes)
    spent = max(1.0, out.size * 8 - _other_bits(p.source, p.audio))
    maxrate = max(MIN_COMPRESS_BITRATE, int(p.maxrate * allowed / spent * REFIT_MARGIN))
    return replace(p, maxrate=min(maxrate, p.maxrate - 1))


def run(p: Plan, src, dst, on_progress: Callable[[float], None] | None = None) -> MediaInfo:
    """Write ``dst`` as a faststart MP4, then probe it: what we store is checked, not assumed. An encode that
    came out over the plan's size gets one second pass at a lower bitrate (its progress runs again from 0)."""
    out = _encode(p, src, dst, on_progress)
    second = refit(p, out)
    if second is not None:
        logger.info("the encode came out over its target: a second pass", extra={
            "bytes": out.size, "max_bytes": p.max_bytes, "maxrate": p.maxrate, "second_maxrate": second.maxrate})
        p, out = second, _encode(second, src, dst, on_progress)
    return verified(p, out)


def _encode(p: Plan, src, dst, on_progress: Callable[[float], None] | None) -> MediaInfo:
    import ffmpeg

    source = probed_input(src, p.source)
    video = source[str(p.source.video.index)]
    streams = [video if p.video == "copy" else _scaled(video, p.height)]
    options = {"movflags": "+faststart", **_video_options(p)}
    if p.audio:
        streams.append(source[str(p.source.audio.index)])
        options.update(_audio_options(p))
    output = ffmpeg.output(*streams, os.fspath(dst), format="mp4", **options)
    run_ffmpeg(output, duration=p.source.duration, on_progress=on_progress)
    return probe(dst)


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
    audio = probed_input(src, p.source)[str(p.source.audio.index)]
    run_ffmpeg(ffmpeg.output(audio, os.fspath(dst), format="ipod", **_audio_options(p)))
    return True


def _browser_h264(video: VideoInfo) -> bool:
    return (video.codec == "h264" and video.profile in BROWSER_H264_PROFILES
            and video.pix_fmt in BROWSER_PIX_FMTS)


def _rate_for_size(info: MediaInfo, audio: str | None, limits: Limits) -> tuple[int, int | None]:
    """The video bitrate cap, and the size it holds the output to: the threshold, when a rate above the
    watchable floor fits it over the whole duration (one rate buffer included); otherwise the floor, unheld."""
    if not info.duration:
        return limits.max_bitrate, None
    fitting = int(_video_bits(info, audio, limits.compress_above_bytes) / (info.duration + BUFFER_SECONDS))
    if fitting < MIN_COMPRESS_BITRATE:
        return MIN_COMPRESS_BITRATE, None
    return min(limits.max_bitrate, fitting), limits.compress_above_bytes


def _video_bits(info: MediaInfo, audio: str | None, max_bytes: int) -> float:
    """The bits the video stream may take for the whole file to fit ``max_bytes``."""
    return max_bytes * (1 - SIZE_MARGIN) * 8 - _other_bits(info, audio)


def _other_bits(info: MediaInfo, audio: str | None) -> float:
    """The bits of the output that are not video: the audio stream and the MP4's boxes."""
    audio_rate = 0 if audio is None else AUDIO_BITRATE if audio == "aac" else info.audio.bit_rate or AUDIO_BITRATE
    return info.duration * audio_rate + (CONTAINER_BYTES + INDEX_BYTES_PER_SECOND * info.duration) * 8


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
            "bufsize": encoding.bufsize}


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
    if p.max_bytes is not None and out.size > p.max_bytes:
        raise PermanentJobError(f"compressed to {out.size} bytes, still over the target of {p.max_bytes}",
                                code="too_large")
    return out


def _failing(checks: list[tuple[bool, str]]) -> list[str]:
    """The messages of the checks that did not pass."""
    return [message for passed, message in checks if not passed]
