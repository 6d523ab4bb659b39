"""A capture's captions: the platform's and the file's own, uploaded, and the transcript the record keeps for search.

Never a reason for a capture to fail: a platform without captions, a caption server that errs or a stream ffmpeg
cannot convert leaves the video without those captions (logged). Only our own storage's errors go on up, as they
would for the video's file.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from chalicelib.media import captions as media_captions
from chalicelib.observability import logger
from chalicelib.records import users
from chalicelib.storage import layout

if TYPE_CHECKING:
    from chalicelib.media.probe import MediaInfo
    from chalicelib.pipeline.run import Run

# the record's copy of the transcript: one hour of speech (~49 KB, bench/transcript_size.py) fits whole, about 78
# minutes at most, and the item stays far below DynamoDB's 400 KB
TRANSCRIPT_MAX_BYTES = 64 * 1024


@dataclass(frozen=True)
class Captioned:
    """What was stored for an item's captions: the objects' sizes and the record's fields."""

    sizes: dict[str, int] = field(default_factory=dict)
    captions: dict[str, dict] = field(default_factory=dict)
    transcript: str | None = None


def store(run: Run, item: dict, source: Path, source_info: MediaInfo, workdir: Path, *, video_id: str,
          options: dict) -> Captioned:
    """Fetch, extract and upload the captions in the owner's languages (in their order), and the transcript of the
    first one."""
    languages = users.caption_languages(users.get_user(run.video.owner_id), run.settings.caption_languages)
    found = _attempt("platform captions", lambda: media_captions.fetch(
        item, workdir, languages=languages, options=options, allow_loopback=run.settings.allow_loopback_urls))
    have = {caption.language for caption in found}
    found += _attempt("embedded subtitles", lambda: media_captions.extract(
        source, source_info, workdir, languages=tuple(lang for lang in languages if lang not in have),
        untagged=not found))
    if not found:
        return Captioned()
    found.sort(key=lambda caption: languages.index(caption.language) if caption.language in languages else 99)
    created, sizes = run.video.created_at, {}
    for caption in found:
        key = layout.caption_key(video_id, created, caption.language)
        sizes[key] = run.upload(caption.path, key)
    text = media_captions.transcript(found[0].path.read_text(encoding="utf-8", errors="replace"))
    if text:
        full = workdir / "transcript.txt"
        full.write_text(text, encoding="utf-8")
        key = layout.transcript_key(video_id, created)
        sizes[key] = run.upload(full, key)
    return Captioned(sizes, {caption.language: caption.as_record() for caption in found},
                     media_captions.bounded(text, TRANSCRIPT_MAX_BYTES) or None)


def _attempt(what: str, step) -> list:
    try:
        return step()
    except Exception as exc:  # best effort: the capture goes on without these captions
        logger.warning("captions left out", extra={"step": what, "reason": f"{type(exc).__name__}: {exc}"[:300]})
        return []
