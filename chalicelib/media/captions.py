"""Captions of a capture as WebVTT, and the plain-text transcript made from them.

Two sources: the platform's subtitles through yt-dlp (uploaded ones first, then automatic captions; its
FFmpegSubtitlesConvertor makes them WebVTT), and the text subtitle streams of the downloaded file (mov_text in MP4,
SRT/ASS in MKV), converted by ffmpeg. Both are best effort: a link without captions simply has none, and a caption
that cannot be fetched or converted is left out, never failing the capture (``pipeline.captions`` catches).
"""

from __future__ import annotations

import html
import os
import re
from dataclasses import dataclass
from pathlib import Path

from chalicelib.media.download import _base, youtube_dl
from chalicelib.media.probe import MediaInfo
from chalicelib.netguard import guarded_connections
from chalicelib.storage import layout

UPLOADED, AUTOMATIC, EMBEDDED = "uploaded", "automatic", "embedded"
CAPTION_RETRIES = 1  # a caption is not worth the video's patience: one retry, then the capture goes on without it
MAX_CAPTION_BYTES = 4 * 1024 * 1024  # a caption file is served through the API (watch page tracks): text only
TEXT_CODECS = frozenset({"mov_text", "subrip", "srt", "ass", "ssa", "webvtt", "text"})  # ffmpeg converts these
UNDETERMINED = "und"  # an embedded stream without a language tag
# ISO 639-2/B codes (Matroska's tags) whose 639-2/T form (MP4's, and what yt-dlp's ISO639Utils knows) differs
_BIBLIOGRAPHIC = {"alb": "sqi", "arm": "hye", "baq": "eus", "bur": "mya", "chi": "zho", "cze": "ces", "dut": "nld",
                  "fre": "fra", "geo": "kat", "ger": "deu", "gre": "ell", "ice": "isl", "mac": "mkd", "mao": "mri",
                  "may": "msa", "per": "fas", "rum": "ron", "slo": "slk", "tib": "bod", "wel": "cym"}
_TAG = re.compile(r"<[^>]*>")
_SPACE = re.compile(r"\s+")
_SEEN_LINES = 3  # rolling auto-captions repeat the previous one or two lines in each cue


class CaptionTooLargeError(Exception):
    """Raised from yt-dlp's progress hook: a caption file past ``MAX_CAPTION_BYTES``."""


@dataclass(frozen=True)
class Caption:
    language: str  # as the key holds it: the owner's language it answers (or ``und``)
    path: Path  # the WebVTT file
    origin: str  # uploaded, automatic or embedded
    source_language: str | None  # the platform's or the stream's own code

    def as_record(self) -> dict:
        return {"origin": self.origin, "source_language": self.source_language}


# -- which tracks --------------------------------------------------------------------------------------------------


def choose(subtitles: dict, automatic: dict, languages: tuple[str, ...]) -> dict[str, tuple[str, str]]:
    """For each wanted language, the platform's track that answers it: ``{wanted: (platform code, origin)}``.

    Uploaded subtitles win over automatic captions; within each, the exact code wins over a regional one
    (``en`` over ``en-US``)."""
    chosen = {}
    for wanted in languages:
        for tracks, origin in ((subtitles, UPLOADED), (automatic, AUTOMATIC)):
            code = _best_code(tracks or {}, wanted)
            if code is not None:
                chosen[wanted] = (code, origin)
                break
    return chosen


def _best_code(tracks: dict, wanted: str) -> str | None:
    codes = [code for code in tracks if isinstance(code, str) and answers(code, wanted)]
    return min(codes, key=lambda code: (layout.language(code) != wanted, len(code)), default=None)


def answers(code: str, wanted: str) -> bool:
    """A track's code answers a wanted language: ``en``, ``en-US`` and ``eng`` (ISO 639-2, MP4's tags) answer ``en``."""
    normalized = layout.language(_short(code)) or ""
    return normalized == wanted or normalized.startswith(f"{wanted}-")


def _short(code: str) -> str:
    from yt_dlp.utils import ISO639Utils

    head, _, rest = code.partition("-")
    head = _BIBLIOGRAPHIC.get(head.lower(), head.lower())
    short = ISO639Utils.long2short(head) if len(head) == 3 else None
    return f"{short}-{rest}" if short and rest else short or code


# -- the platform's subtitles --------------------------------------------------------------------------------------


def fetch(item: dict, dest: Path, *, languages: tuple[str, ...], options: dict, allow_loopback: bool) -> list[Caption]:
    """Download the chosen platform tracks of ``item`` (a probed entry) as WebVTT into ``dest``; a track that fails
    is skipped by yt-dlp (``ignoreerrors``) and simply missing here."""
    chosen = choose(item.get("subtitles") or {}, item.get("automatic_captions") or {}, languages)
    if not chosen:
        return []

    def hook(status: dict) -> None:
        if (status.get("downloaded_bytes") or 0) > MAX_CAPTION_BYTES:
            raise CaptionTooLargeError(status.get("filename"))

    opts = _base(options) | {
        "skip_download": True, "writesubtitles": True, "writeautomaticsub": True, "ignoreerrors": True,
        "retries": CAPTION_RETRIES,
        "subtitleslangs": [code for code, _ in chosen.values()], "progress_hooks": [hook],
        "outtmpl": {"default": str(dest / "captions.%(ext)s")}, "paths": {"home": str(dest), "temp": str(dest)},
        "postprocessors": [{"key": "FFmpegSubtitlesConvertor", "format": "vtt", "when": "before_dl"}],
    }
    with guarded_connections(allow_loopback=allow_loopback), youtube_dl(opts) as ydl:
        ydl.process_ie_result(dict(item), download=True)
    found = [Caption(wanted, dest / f"captions.{code}.vtt", origin, code) for wanted, (code, origin) in chosen.items()]
    return [caption for caption in found if _usable(caption.path)]


# -- the file's own subtitle streams ------------------------------------------------------------------------------


def embedded_streams(info: MediaInfo) -> list[tuple[int, str | None]]:
    """The text subtitle streams of a probed file: (stream index, language tag)."""
    return [(stream.index, stream.language) for stream in info.subtitles if stream.codec in TEXT_CODECS]


def pick_embedded(streams: list[tuple[int, str | None]], languages: tuple[str, ...], *,
                  untagged: bool) -> dict[str, int]:
    """``{language: stream index}``: the first stream of each wanted language; with ``untagged``, an untagged stream
    (``und``) when no tagged stream answered any of them (a file made without tags still has its captions kept)."""
    picked = {}
    for wanted in languages:
        index = next((index for index, tag in streams if tag and answers(tag, wanted)), None)
        if index is not None:
            picked[wanted] = index
    fallback = next((index for index, tag in streams if not tag or tag == UNDETERMINED), None)
    if untagged and not picked and fallback is not None:
        picked[UNDETERMINED] = fallback
    return picked


def extract(source: Path, info: MediaInfo, dest: Path, *, languages: tuple[str, ...],
            untagged: bool) -> list[Caption]:
    """The chosen text subtitle streams of ``source`` (probed as ``info``; ``pick_embedded``) as WebVTT files, in one
    ffmpeg run."""
    import ffmpeg

    from chalicelib.media.tools import probed_input, run_ffmpeg

    streams = embedded_streams(info)
    picked = pick_embedded(streams, languages, untagged=untagged)
    if not picked:
        return []
    tags = dict(streams)
    source_input = probed_input(source, info)
    paths = {lang: dest / f"embedded.{lang}.vtt" for lang in picked}
    run_ffmpeg(ffmpeg.merge_outputs(*(source_input[str(index)].output(os.fspath(paths[lang]), **{"c:s": "webvtt"})
                                      for lang, index in picked.items())))
    found = [Caption(lang, paths[lang], EMBEDDED, tags[index]) for lang, index in picked.items()]
    return [caption for caption in found if _usable(caption.path)]


def _usable(path: Path) -> bool:
    return path.is_file() and 0 < path.stat().st_size <= MAX_CAPTION_BYTES


# -- the transcript ------------------------------------------------------------------------------------------------


def transcript(vtt: str) -> str:
    """The cue text of a WebVTT file, one line per caption line: tags, timings and notes dropped, and a line that
    repeats one of the last few (rolling automatic captions show each line two or three times) kept once."""
    lines: list[str] = []
    for block in re.split(r"\n\s*\n", vtt.replace("\r\n", "\n").replace("\r", "\n")):
        rows = block.strip("\n").split("\n")
        timing = next((i for i, row in enumerate(rows) if "-->" in row), None)
        if timing is None:
            continue  # the header, NOTE, STYLE and REGION blocks
        for row in rows[timing + 1:]:
            text = _SPACE.sub(" ", html.unescape(_TAG.sub("", row))).strip()
            if text and text not in lines[-_SEEN_LINES:]:
                lines.append(text)
    return "\n".join(lines)


def bounded(text: str, max_bytes: int) -> str:
    """At most ``max_bytes`` of UTF-8, cut at a word boundary (the record's copy; S3 keeps the whole text)."""
    data = text.encode()
    if len(data) <= max_bytes:
        return text
    cut = data[:max_bytes].decode(errors="ignore")
    boundary = max(cut.rfind(" "), cut.rfind("\n"))
    return cut[:boundary] if boundary > 0 else cut
