"""The bucket's layout, as pure data and functions: every prefix, every key shape, the lifecycle rules.

Keys never contain user input and are immutable (a new rendition is a new key), so objects carry
a long Cache-Control and the CDN may keep them forever. The lifecycle rules are defined here once:
the local bootstrap applies them and infra/ builds the deployed bucket's rules from them.
"""

from __future__ import annotations

import mimetypes
import re
from datetime import datetime

CACHE_FOREVER = "public, max-age=31536000, immutable"

VIDEOS_PREFIX = "videos/"
THUMBNAILS_PREFIX = "thumbnails/"
CAPTIONS_PREFIX = "captions/"  # WebVTT captions per language and the transcript's full text
AUDIO_PREFIX = "audio/"  # audio captures: audio/YYYY/MM/{uuid}.m4a
# what records point to (swept, backed up, replicated)
MEDIA_PREFIXES = (VIDEOS_PREFIX, THUMBNAILS_PREFIX, CAPTIONS_PREFIX, AUDIO_PREFIX)
TEMP_PREFIX = "temp/"  # work in progress (one folder per job: temp/processing/{job_id}/), expired after a day
# The thumbnail sizes of the key layout (media.thumbnails makes them; the API never imports media).
THUMBNAIL_SIZES = ("small", "medium", "large")
# The rendition heights of the key layout: videos/YYYY/MM/{uuid}_{quality}.mp4
RENDITION_QUALITIES = ("360p", "480p", "720p", "1080p")
# the video id embedded in every media key: videos/YYYY/MM/{id}[_{quality}].{ext}, thumbnails/YYYY/MM/{id}_{size}.jpg,
# captions/YYYY/MM/{id}.{lang}.vtt and captions/YYYY/MM/{id}.txt; audio/YYYY/MM/{id}.m4a
_KEY_ID = re.compile(r"^(?:videos|thumbnails|captions|audio)/\d{4}/\d{2}/(?P<id>[^/_.]+)")
# a caption's language in its key: a BCP 47-like tag, lower case ("en", "pt-br", "und"), never free text
_LANGUAGE = re.compile(r"[a-z]{2,3}(?:-[a-z0-9]{2,8}){0,2}")
_TEXT_TYPES = {".vtt": "text/vtt; charset=utf-8", ".txt": "text/plain; charset=utf-8"}

TEMP_EXPIRE_DAYS = 1
ABORT_MULTIPART_DAYS = 1
NONCURRENT_EXPIRE_DAYS = 30
INTELLIGENT_TIERING_DAYS = 30


def lifecycle_rules(noncurrent_days: int = NONCURRENT_EXPIRE_DAYS) -> list[dict]:
    """The media bucket's lifecycle rules in the S3 API's shape (``put_bucket_lifecycle_configuration``)."""
    return [
        {"ID": "expire-temp", "Status": "Enabled", "Filter": {"Prefix": TEMP_PREFIX},
         "Expiration": {"Days": TEMP_EXPIRE_DAYS}},
        {"ID": "housekeeping", "Status": "Enabled", "Filter": {"Prefix": ""},
         "AbortIncompleteMultipartUpload": {"DaysAfterInitiation": ABORT_MULTIPART_DAYS},
         "NoncurrentVersionExpiration": {"NoncurrentDays": noncurrent_days},
         "Expiration": {"ExpiredObjectDeleteMarker": True}},
        {"ID": "intelligent-tiering", "Status": "Enabled", "Filter": {"Prefix": VIDEOS_PREFIX},
         "Transitions": [{"Days": INTELLIGENT_TIERING_DAYS, "StorageClass": "INTELLIGENT_TIERING"}]},
    ]


def video_key(video_id: str, created_at: datetime, quality: str | None = None) -> str:
    suffix = f"_{quality}" if quality else ""
    return f"{VIDEOS_PREFIX}{created_at:%Y/%m}/{video_id}{suffix}.mp4"


def image_key(video_id: str, created_at: datetime) -> str:
    """An image capture's picture sits where its video would (same prefix, same lifecycle)."""
    return f"{VIDEOS_PREFIX}{created_at:%Y/%m}/{video_id}.jpg"


def audio_key(video_id: str, created_at: datetime) -> str:
    """An audio capture's AAC in M4A, under its own prefix (a library of sound apart from the videos)."""
    return f"{AUDIO_PREFIX}{created_at:%Y/%m}/{video_id}.m4a"


def thumbnail_key(video_id: str, created_at: datetime, size: str) -> str:
    return f"{THUMBNAILS_PREFIX}{created_at:%Y/%m}/{video_id}_{size}.jpg"


def language(code: str) -> str | None:
    """A language code as caption keys and settings hold it (lower case, ``-`` separated); None when it is none."""
    code = code.strip().lower().replace("_", "-")
    return code if _LANGUAGE.fullmatch(code) else None


def caption_key(video_id: str, created_at: datetime, lang: str) -> str:
    if language(lang) != lang:
        raise ValueError(f"not a caption language: {lang!r}")
    return f"{CAPTIONS_PREFIX}{created_at:%Y/%m}/{video_id}.{lang}.vtt"


def transcript_key(video_id: str, created_at: datetime) -> str:
    """The transcript's full text, next to the captions (the record keeps a bounded copy for search)."""
    return f"{CAPTIONS_PREFIX}{created_at:%Y/%m}/{video_id}.txt"


def keys_of(video_id: str, created_at: datetime, languages: tuple[str, ...] = ()) -> list[str]:
    """Every key a video can have: its file (MP4, JPEG or M4A), each rendition, each thumbnail, its transcript and
    its captions in ``languages``."""
    return [video_key(video_id, created_at), image_key(video_id, created_at), audio_key(video_id, created_at),
            *(video_key(video_id, created_at, quality) for quality in RENDITION_QUALITIES),
            *(thumbnail_key(video_id, created_at, size) for size in THUMBNAIL_SIZES),
            transcript_key(video_id, created_at), *(caption_key(video_id, created_at, lang) for lang in languages)]


def prefixes_of(video_id: str, created_at: datetime) -> list[str]:
    """The prefixes under which every key of a video starts (``keys_of``): its file and renditions, its thumbnails,
    its captions and transcript, its audio."""
    return [f"{VIDEOS_PREFIX}{created_at:%Y/%m}/{video_id}", f"{THUMBNAILS_PREFIX}{created_at:%Y/%m}/{video_id}_",
            f"{CAPTIONS_PREFIX}{created_at:%Y/%m}/{video_id}.", f"{AUDIO_PREFIX}{created_at:%Y/%m}/{video_id}."]


def video_id_of(key: str) -> str | None:
    """The video a media key belongs to; None for a key outside the media prefixes."""
    match = _KEY_ID.match(key)
    return match.group("id") if match else None


def temp_prefix(job_id: str) -> str:
    return f"{TEMP_PREFIX}processing/{job_id}/"


def content_type(path: str) -> str:
    """Text (captions, transcripts) says its charset: a browser must not guess it."""
    suffix = path[path.rfind("."):] if "." in path else ""
    return _TEXT_TYPES.get(suffix) or mimetypes.guess_type(path)[0] or "application/octet-stream"
