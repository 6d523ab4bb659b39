"""Audio captures: AAC in M4A, by a pure plan (copy AAC as it is, encode anything else) and one verified ffmpeg run.

Every browser plays AAC in MP4 (M4A), so AAC is stream-copied (seconds, no quality loss) and any other sound
(MP3, Opus, Vorbis, PCM, FLAC...) is encoded to AAC at the source's bitrate, capped: a 64 kbit/s podcast stays
64 kbit/s rather than doubling in size. A picture in the source (a video asked for as audio, cover art) is left
out of the file: the thumbnails carry the artwork.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass

from chalicelib.errors import PermanentJobError
from chalicelib.media.probe import AudioInfo, MediaInfo, probe
from chalicelib.media.tools import probed_input, run_ffmpeg
from chalicelib.media.transcode import AUDIO_BITRATE, MIN_OUTPUT_SHARE

COPY_CODECS = frozenset({"aac"})
MIN_BITRATE = 32_000  # below this AAC sounds worse than the source did
MAX_CHANNELS = 2
CONTAINER = "ipod"  # ffmpeg's name for the M4A flavour of MP4


@dataclass(frozen=True)
class Plan:
    """``audio`` is "copy" or "aac"; an encode has its ``bitrate`` and ``channels``."""

    source: MediaInfo
    audio: str
    reason: str
    bitrate: int | None = None
    channels: int | None = None

    @property
    def kind(self) -> str:
        return "remux" if self.audio == "copy" else "transcode"


def plan(info: MediaInfo) -> Plan:
    """Copy AAC; encode anything else to AAC at the source's bitrate within [MIN_BITRATE, AUDIO_BITRATE]."""
    audio = require_audio(info)
    if audio.codec in COPY_CODECS:
        return Plan(info, audio="copy", reason="audio is aac")
    return Plan(info, audio="aac", reason=f"audio is {audio.codec}", bitrate=_bitrate(audio),
                channels=min(audio.channels, MAX_CHANNELS))


def require_audio(info: MediaInfo) -> AudioInfo:
    """The sound, or a permanent failure: a silent video asked for as audio has nothing to keep."""
    if info.audio is None:
        raise PermanentJobError("the media has no sound", code="no_audio")
    return info.audio


def run(p: Plan, src, dst, on_progress: Callable[[float], None] | None = None) -> MediaInfo:
    """Write ``dst`` as a faststart M4A of the source's first sound, then probe it: what we store is checked."""
    import ffmpeg

    source = probed_input(src, p.source)
    codec = {"c:a": "copy"} if p.audio == "copy" else {"c:a": "aac", "b:a": p.bitrate, "ac": p.channels}
    output = ffmpeg.output(source[str(p.source.audio.index)], os.fspath(dst), format=CONTAINER,
                           movflags="+faststart", **codec)
    run_ffmpeg(output, duration=p.source.duration, on_progress=on_progress)
    return _verified(p, probe(dst))


def as_record(info: MediaInfo) -> dict:
    """The record fields of a stored M4A: the probe's, with ``codec`` naming the file's codec (as a JPEG's is mjpeg)."""
    return {**info.as_record(), "codec": info.audio.codec}


def _bitrate(audio: AudioInfo) -> int:
    return max(MIN_BITRATE, min(AUDIO_BITRATE, audio.bit_rate or AUDIO_BITRATE))


def _verified(p: Plan, out: MediaInfo) -> MediaInfo:
    problems = [message for passed, message in (
        ("mp4" in out.format_name, f"container {out.format_name}"),
        (out.audio is not None and out.audio.codec == "aac", "no AAC audio"),
        (out.video is None, "a picture stream in the audio file"),
        (out.duration >= p.source.duration * MIN_OUTPUT_SHARE, f"{out.duration:.1f} s of {p.source.duration:.1f} s"),
    ) if not passed]
    if problems:
        raise PermanentJobError(f"output check failed: {'; '.join(problems)}", code="invalid_media")
    return out
