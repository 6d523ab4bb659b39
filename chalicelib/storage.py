"""S3: the CDN key layout (pure builders) and the adapter that moves objects.

Keys never contain user input and are immutable (a new rendition is a new key), so objects carry
a long Cache-Control and the CDN may keep them forever.
"""

from __future__ import annotations

import mimetypes
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

from boto3.s3.transfer import TransferConfig

from chalicelib import aws

CACHE_FOREVER = "public, max-age=31536000, immutable"
_TRANSFER = TransferConfig(multipart_threshold=16 * 1024 * 1024, multipart_chunksize=16 * 1024 * 1024,
                           max_concurrency=4)


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


class S3Storage:
    def __init__(self, bucket: str):
        self.bucket = bucket

    @property
    def _s3(self):
        return aws.client("s3")

    def put_file(self, path: Path, key: str) -> int:
        """Upload (multipart above 16 MB) with Content-Type and a long Cache-Control; returns the size."""
        self._s3.upload_file(
            str(path), self.bucket, key, Config=_TRANSFER,
            ExtraArgs={"ContentType": content_type(key), "CacheControl": CACHE_FOREVER},
        )
        return path.stat().st_size

    def get_file(self, key: str, path: Path) -> Path:
        """Download an object to a local file (the worker's input for a rendition)."""
        self._s3.download_file(self.bucket, key, str(path), Config=_TRANSFER)
        return path

    def presign(self, key: str, seconds: int) -> str:
        return self._s3.generate_presigned_url(
            "get_object", Params={"Bucket": self.bucket, "Key": key}, ExpiresIn=seconds)

    def head(self, key: str) -> dict | None:
        try:
            return self._s3.head_object(Bucket=self.bucket, Key=key)
        except self._s3.exceptions.ClientError as exc:
            if exc.response["Error"]["Code"] in ("404", "NoSuchKey", "NotFound"):
                return None
            raise

    def delete(self, keys: list[str]) -> None:
        for start in range(0, len(keys), 1000):
            batch = [{"Key": key} for key in keys[start:start + 1000]]
            if batch:
                self._s3.delete_objects(Bucket=self.bucket, Delete={"Objects": batch, "Quiet": True})

    def list(self, prefix: str, *, page_size: int = 1000) -> Iterator[dict]:
        """Every object under prefix, page by page (never the whole listing in memory)."""
        paginator = self._s3.get_paginator("list_objects_v2")
        for page in paginator.paginate(Bucket=self.bucket, Prefix=prefix, PaginationConfig={"PageSize": page_size}):
            yield from page.get("Contents", [])

    def ping(self) -> None:
        self._s3.head_bucket(Bucket=self.bucket)
