"""A long transcode in segments: split the picture at keyframes, join the encoded parts, check what was joined.

The split is a stream copy (the segment muxer cuts at keyframes only, so every part starts with one); each part is
encoded alone (``transcode.encode_video``), and the concat demuxer joins them with each part's duration from the
split's own list, so the joined timeline is the source's. The sound is muxed once, at the join: copied per part it
shifted the timeline by 33 ms and left a 12 ms gap at the first cut (measured on a 60 s clip in 4 parts).
"""

from __future__ import annotations

import csv
import os
from dataclasses import dataclass
from pathlib import Path

from chalicelib.errors import PermanentJobError
from chalicelib.media.tools import probed_input, run_ffmpeg
from chalicelib.media.transcode import Plan

PART_SUFFIX = ".mkv"  # Matroska takes any codec a source may have (VP9, AV1, HEVC, H.264) by stream copy
DEFAULT_FPS = 25.0
SYNC_FRAMES = 1  # audio and video may differ by at most this many frames at the start and at the end
DURATION_FRAMES = 2  # the joined picture may differ from the parts' sum by at most this many frames
# decoded from every cut on, to prove the joined file plays across it: each part starts with a keyframe, so the
# seek lands on the cut itself and decodes no more than this (starting earlier decodes from the previous part's
# last keyframe, seconds of picture per cut)
CUT_WINDOW_SECONDS = 1.0


@dataclass(frozen=True)
class Part:
    """One piece of the source's picture, as the split cut it: where it starts and how long it lasts."""

    index: int
    start: float
    duration: float

    @property
    def name(self) -> str:
        return f"part{self.index:05d}{PART_SUFFIX}"

    @property
    def encoded_name(self) -> str:
        return f"encoded{self.index:05d}.mp4"

    def to_params(self) -> dict:
        return {"index": self.index, "start": self.start, "duration": self.duration}

    @classmethod
    def from_params(cls, params: dict) -> Part:
        return cls(int(params["index"]), float(params["start"]), float(params["duration"]))


def split(p: Plan, src, workdir: Path, *, seconds: int) -> list[Part]:
    """The source's picture in parts of about ``seconds`` (longer where keyframes are rare), in ``workdir``.

    Timestamps are kept as they are: shifted to make an H.264 source's B-frame delay non-negative, the first part
    started late and the list's times ran one delay long (240.4 s for a stored 240 s MP4 at 5 fps)."""
    import ffmpeg

    listing = workdir / "parts.csv"
    video = probed_input(src, p.source)[str(p.source.video.index)]
    run_ffmpeg(ffmpeg.output(video, os.fspath(workdir / f"part%05d{PART_SUFFIX}"), format="segment", c="copy",
                             segment_time=seconds, reset_timestamps=1, segment_list=os.fspath(listing),
                             segment_list_type="csv", avoid_negative_ts="disabled"))
    return parts_of(listing.read_text())


def parts_of(listing: str) -> list[Part]:
    """The segment muxer's CSV list (name, start, end per line) as parts, in order."""
    rows = [row for row in csv.reader(listing.splitlines()) if row]
    return [Part(index, float(start), float(end) - float(start)) for index, (_, start, end) in enumerate(rows)]


def join(parts: list[tuple[Part, Path]], audio: Path | None, dst: Path) -> None:
    """The encoded parts one after the other (each lasting what its source part lasted) and the sound, as MP4."""
    import ffmpeg

    listing = dst.with_suffix(".ffconcat")
    listing.write_text("ffconcat version 1.0\n" + "".join(
        f"file '{os.fspath(path)}'\nduration {part.duration:.6f}\n" for part, path in parts))
    streams = [ffmpeg.input(os.fspath(listing), format="concat", safe=0)["v:0"]]
    if audio is not None:
        streams.append(ffmpeg.input(os.fspath(audio))["a:0"])
    run_ffmpeg(ffmpeg.output(*streams, os.fspath(dst), format="mp4", c="copy", movflags="+faststart"))


@dataclass(frozen=True)
class Extent:
    start: float
    duration: float

    @property
    def end(self) -> float:
        return self.start + self.duration


def extents(path) -> dict[str, Extent]:
    """Where the first video and audio streams start and how long they last (container metadata, no decoding)."""
    import av

    with av.open(os.fspath(path)) as container:
        found = {}
        for stream in (*container.streams.video[:1], *container.streams.audio[:1]):
            base = stream.time_base
            start = float((stream.start_time or 0) * base)
            found[stream.type] = Extent(start, float((stream.duration or 0) * base))
        return found


def sync_problems(joined: dict[str, Extent], *, parts: list[Part], audio: Extent | None,
                  fps: float | None) -> list[str]:
    """What is wrong with the joined file's timeline (empty when nothing is): the picture lasts what the parts
    lasted, the sound what the source's sound lasted, and both start and end together, within a frame or two."""
    frame = 1 / (fps or DEFAULT_FPS)
    video, expected = joined.get("video"), sum(part.duration for part in parts)
    if video is None:
        return ["no video stream"]
    problems = []
    if abs(video.duration - expected) > DURATION_FRAMES * frame:
        problems.append(f"picture lasts {video.duration:.3f} s, its parts {expected:.3f} s")
    if audio is not None:
        sound = joined.get("audio")
        if sound is None:
            return [*problems, "no audio stream"]
        if abs(sound.duration - audio.duration) > SYNC_FRAMES * frame:
            problems.append(f"sound lasts {sound.duration:.3f} s, the source's {audio.duration:.3f} s")
        if abs(sound.start - video.start) > SYNC_FRAMES * frame:
            problems.append(f"sound starts at {sound.start:.3f} s, picture at {video.start:.3f} s")
    return problems


def check_joined(path: Path, *, parts: list[Part], audio: Extent | None, fps: float | None) -> None:
    """The joined file's timeline is in sync and its picture decodes across every cut; else ``invalid_media``."""
    problems = sync_problems(extents(path), parts=parts, audio=audio, fps=fps)
    if problems:
        raise PermanentJobError(f"joined segments out of sync: {'; '.join(problems)}", code="invalid_media")
    for part in parts[1:]:
        _decode(path, start=part.start, seconds=CUT_WINDOW_SECONDS)


def _decode(path: Path, *, start: float, seconds: float) -> None:
    """Decode a stretch of the picture; any decoding error fails the run (``-xerror``)."""
    import ffmpeg

    video = ffmpeg.input(os.fspath(path), ss=start, t=seconds)["v:0"]
    run_ffmpeg(ffmpeg.output(video, "-", format="null").global_args("-xerror"))
