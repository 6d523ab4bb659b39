"""S3: the CDN key layout (pure builders) and the adapter that moves objects.

Keys never contain user input and are immutable (a new rendition is a new key), so objects carry
a long Cache-Control and the CDN may keep them forever.
"""

from __future__ import annotations

import mimetypes
from datetime import datetime

CACHE_FOREVER = "public, max-age=31536000, immutable"


# One definition of the bucket's lifecycle, used by the local bootstrap and by infra/.
TEMP_EXPIRE_DAYS = 1
ABORT_MULTIPART_DAYS = 1
NONCURRENT_EXPIRE_DAYS = 30
INTELLIGENT_TIERING_DAYS = 30
TEMP_PREFIX = "temp/"
# The thumbnail sizes of the key layout (media.thumbnails makes them; the API never imports media).
THUMBNAIL_SIZES = ("small", "medium", "large")
# The rendition heights of the key layout: videos/YYYY/MM/{uuid}_{quality}.mp4
RENDITION_QUALITIES = ("360p", "480p", "720p", "1080p")


def lifecycle_rules() -> list[dict]:
    """The lifecycle rules in the S3 API's shape."""
    return [
        {"ID": "expire-temp", "Status": "Enabled", "Filter": {"Prefix": TEMP_PREFIX},
         "Expiration": {"Days": TEMP_EXPIRE_DAYS}},
        {"ID": "abort-incomplete-multipart", "Status": "Enabled", "Filter": {"Prefix": ""},
         "AbortIncompleteMultipartUpload": {"DaysAfterInitiation": ABORT_MULTIPART_DAYS}},
        {"ID": "expire-noncurrent-versions", "Status": "Enabled", "Filter": {"Prefix": ""},
         "NoncurrentVersionExpiration": {"NoncurrentDays": NONCURRENT_EXPIRE_DAYS}},
        {"ID": "intelligent-tiering", "Status": "Enabled", "Filter": {"Prefix": "videos/"},
         "Transitions": [{"Days": INTELLIGENT_TIERING_DAYS, "StorageClass": "INTELLIGENT_TIERING"}]},
    ]


def video_key(video_id: str, created_at: datetime, quality: str | None = None) -> str:
    suffix = f"_{quality}" if quality else ""
    return f"videos/{created_at:%Y/%m}/{video_id}{suffix}.mp4"


def image_key(video_id: str, created_at: datetime) -> str:
    """An image capture's picture sits where its video would (same prefix, same lifecycle)."""
    return f"videos/{created_at:%Y/%m}/{video_id}.jpg"


def thumbnail_key(video_id: str, created_at: datetime, size: str) -> str:
    return f"thumbnails/{created_at:%Y/%m}/{video_id}_{size}.jpg"


def temp_prefix(job_id: str) -> str:
    return f"temp/processing/{job_id}/"


def content_type(path: str) -> str:
    return mimetypes.guess_type(path)[0] or "application/octet-stream"
