"""What a media file holds, read with PyAV (no ffprobe process, no decoding).

The pipeline decides remux/transcode from this and stores it on the video record, so the record's
field names follow yt-dlp's (``codec``, ``audio_codec``, ``average_bitrate``, ``filesize``...).
"""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass

from chalicelib.errors import PermanentJobError

_MICROSECONDS = 1_000_000


@dataclass(frozen=True)
class VideoInfo:
    index: int
    codec: str
    profile: str | None
    pix_fmt: str | None
    width: int
    height: int
    fps: float | None
    bit_rate: int | None


@dataclass(frozen=True)
class AudioInfo:
    index: int
    codec: str
    sample_rate: int
    channels: int
    bit_rate: int | None


@dataclass(frozen=True)
class SubtitleInfo:
    index: int
    codec: str | None  # None: ffmpeg has no decoder for it
    language: str | None


@dataclass(frozen=True)
class MediaInfo:
    format_name: str
    duration: float
    size: int
    bit_rate: int | None
    video: VideoInfo | None
    audio: AudioInfo | None
    cover: int | None = None  # the stream index of embedded cover art (an MP3's or M4A's attached picture)
    subtitles: tuple[SubtitleInfo, ...] = ()  # the file's own subtitle streams (captions keeps the text ones)

    @classmethod
    def from_dict(cls, data: dict) -> MediaInfo:
        """Back from ``dataclasses.asdict`` (a fanned-out capture keeps its source's probe on its job)."""
        video, audio = data.get("video"), data.get("audio")
        return cls(**{**data, "video": VideoInfo(**video) if video else None,
                      "audio": AudioInfo(**audio) if audio else None,
                      "subtitles": tuple(SubtitleInfo(**s) for s in data.get("subtitles", ()))})

    def as_record(self) -> dict:
        video = asdict(self.video) if self.video else {}
        audio = asdict(self.audio) if self.audio else {}
        return {
            "duration": self.duration,
            "width": video.get("width"),
            "height": video.get("height"),
            "fps": video.get("fps"),
            "codec": video.get("codec"),
            "profile": video.get("profile"),
            "pix_fmt": video.get("pix_fmt"),
            "audio_codec": audio.get("codec"),
            "sample_rate": audio.get("sample_rate"),
            "channels": audio.get("channels"),
            "average_bitrate": self.bit_rate,
            "video_bitrate": video.get("bit_rate"),
            "audio_bitrate": audio.get("bit_rate"),
            "filesize": self.size,
        }


def probe(path) -> MediaInfo:
    """Read container and first video/audio stream; anything unreadable is ``invalid_media``."""
    import av

    try:
        with av.open(os.fspath(path)) as container:
            video = next((_video(s) for s in container.streams.video
                          if not s.disposition & av.stream.Disposition.attached_pic), None)
            audio = next((_audio(s) for s in container.streams.audio), None)
            cover = next((s.index for s in container.streams.video
                          if s.disposition & av.stream.Disposition.attached_pic), None)
            if video is None and audio is None:
                raise PermanentJobError("no audio or video stream", code="invalid_media")
            return MediaInfo(
                format_name=container.format.name,
                duration=_duration(container),
                size=os.path.getsize(path),
                bit_rate=container.bit_rate or None,
                video=video,
                audio=audio,
                cover=cover,
                subtitles=tuple(_subtitle(s) for s in container.streams.subtitles),
            )
    except (av.FFmpegError, UnicodeDecodeError) as exc:
        # strerror leaves out the temp path that str(exc) carries
        reason = getattr(exc, "strerror", None) or exc
        raise PermanentJobError(f"unreadable media: {reason}", code="invalid_media") from exc


def require_video(info: MediaInfo) -> VideoInfo:
    """The video stream, or a permanent failure: an audio-only post has nothing for us to show."""
    if info.video is None:
        raise PermanentJobError("the media has no video stream", code="no_video")
    return info.video


def _video(stream) -> VideoInfo:
    context = stream.codec_context
    rate = stream.average_rate or stream.guessed_rate
    return VideoInfo(
        index=stream.index,
        codec=context.codec.canonical_name,
        profile=context.profile,
        pix_fmt=context.format.name if context.format else None,
        width=context.width,
        height=context.height,
        fps=round(float(rate), 3) if rate else None,
        bit_rate=context.bit_rate or None,
    )


def _audio(stream) -> AudioInfo:
    context = stream.codec_context
    return AudioInfo(
        index=stream.index,
        codec=context.codec.canonical_name,
        sample_rate=context.sample_rate,
        channels=context.channels,
        bit_rate=context.bit_rate or None,
    )


def _subtitle(stream) -> SubtitleInfo:
    context = stream.codec_context
    return SubtitleInfo(index=stream.index, codec=context.name if context else None,
                        language=stream.metadata.get("language"))


def _duration(container) -> float:
    """Container duration, else the longest stream's, else the last packet's end (demux only)."""
    if container.duration:
        return container.duration / _MICROSECONDS
    streams = [s.duration * s.time_base for s in container.streams if s.duration and s.time_base]
    if streams:
        return float(max(streams))
    end = 0.0
    for packet in container.demux():
        if packet.pts is not None and packet.time_base:
            end = max(end, float((packet.pts + (packet.duration or 0)) * packet.time_base))
    return end

