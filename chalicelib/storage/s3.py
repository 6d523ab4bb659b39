"""S3: the adapter that moves objects (multipart uploads with the layout's headers, presigned URLs, listings)."""

from __future__ import annotations

from collections.abc import Iterator
from functools import cache
from pathlib import Path
from urllib.parse import quote

from chalicelib import aws
from chalicelib.storage.layout import CACHE_FOREVER, content_type

PART_BYTES = 16 * 1024 * 1024
MULTIPART_ABOVE_BYTES = 2 * PART_BYTES


@cache
def _transfer():
    """Multipart above 32 MB, in 16 MB parts: a file of two parts or less goes in one PUT, one request instead of
    four (create, two parts, complete). boto3's transfer manager is imported by the worker's moves only."""
    from boto3.s3.transfer import TransferConfig

    return TransferConfig(multipart_threshold=MULTIPART_ABOVE_BYTES, multipart_chunksize=PART_BYTES, max_concurrency=4)


class S3Storage:
    def __init__(self, bucket: str):
        self.bucket = bucket

    @property
    def _s3(self):
        return aws.client("s3")

    def put_file(self, path: Path, key: str) -> int:
        """Upload (multipart above 32 MB) with Content-Type and a long Cache-Control; returns the size."""
        self._s3.upload_file(
            str(path), self.bucket, key, Config=_transfer(),
            ExtraArgs={"ContentType": content_type(key), "CacheControl": CACHE_FOREVER},
        )
        return path.stat().st_size

    def get_file(self, key: str, path: Path) -> Path:
        """Download an object to a local file (the worker's input for a rendition)."""
        self._s3.download_file(self.bucket, key, str(path), Config=_transfer())
        return path

    def read(self, key: str) -> bytes | None:
        """A small object's bytes (a caption the watch page serves itself); None when it does not exist."""
        try:
            return self._s3.get_object(Bucket=self.bucket, Key=key)["Body"].read()
        except self._s3.exceptions.NoSuchKey:
            return None

    def presign(self, key: str, seconds: int, *, download_name: str | None = None) -> str:
        params = {"Bucket": self.bucket, "Key": key}
        if download_name:
            params["ResponseContentDisposition"] = f"attachment; filename*=UTF-8''{quote(download_name)}"
        return self._s3.generate_presigned_url("get_object", Params=params, ExpiresIn=seconds)

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

    def uploads(self, prefix: str = "") -> Iterator[dict]:
        """Multipart uploads begun and neither completed nor aborted (Key, UploadId, Initiated)."""
        for page in self._s3.get_paginator("list_multipart_uploads").paginate(Bucket=self.bucket, Prefix=prefix):
            yield from page.get("Uploads", [])

    def abort_upload(self, upload: dict) -> None:
        """Abort an unfinished multipart upload: its parts are billed until then."""
        self._s3.abort_multipart_upload(Bucket=self.bucket, Key=upload["Key"], UploadId=upload["UploadId"])

    def abort_uploads(self, prefix: str) -> None:
        for upload in list(self.uploads(prefix)):
            self.abort_upload(upload)

    def ping(self) -> None:
        self._s3.head_bucket(Bucket=self.bucket)
