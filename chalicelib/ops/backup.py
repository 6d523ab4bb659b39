"""Backups in the backup bucket, and the way back from a mistake.

``backup`` writes every table as JSON lines (DynamoDB's own item format, read with strongly
consistent scans) under ``backups/{timestamp}/`` with a manifest of counts and SHA-256 checksums,
written last so that only complete snapshots have one. Media objects are copied under the same
keys as in the media bucket (where replication puts them in AWS), only those the backup lacks.

``restore_tables`` puts a whole snapshot back; ``restore_video`` brings back one deleted video:
its record from the newest snapshot that holds it, its objects from the media bucket's versions
(removing the delete markers) or else from the backup copy.
"""

from __future__ import annotations

import hashlib
import json
import tempfile
from collections import Counter
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING

from chalicelib import aws
from chalicelib.errors import NotFoundError, PrsnlError
from chalicelib.ops.maintenance import batched
from chalicelib.records import quotas, videos
from chalicelib.records.models import ALL_MODELS, Video
from chalicelib.storage import layout
from chalicelib.storage.s3 import S3Storage

if TYPE_CHECKING:
    from chalicelib.wiring import Services

BACKUPS = "backups/"
MANIFEST = "manifest.json"
WRITE_BATCH = 25  # BatchWriteItem's limit
_MODELS = {model.__name__: model for model in ALL_MODELS}


class BackupCorruptError(PrsnlError):
    code = "backup_corrupt"
    http_status = 500


@dataclass(frozen=True)
class VideoRestore:
    video_id: str
    record: str  # "kept" (it was still there) or the snapshot it came from
    objects: dict[str, str]  # key -> "present", "version" or "backup"


def backup(*, services: Services, media: bool = True) -> dict:
    """Write a snapshot of every table (and copy new media); returns its manifest."""
    bucket, now = services.settings.backup_bucket, services.clock.now()
    snapshot = now.strftime("%Y%m%dT%H%M%SZ")
    prefix = f"{BACKUPS}{snapshot}/"
    tables = {name: _dump_table(model.Meta.table_name, bucket, f"{prefix}{name}.jsonl")
              for name, model in _MODELS.items()}
    manifest = {"snapshot": snapshot, "created_at": now.isoformat(),
                "stage": services.settings.stage, "tables": tables,
                "media": _copy_media(services.settings.bucket, bucket) if media else None}
    aws.client("s3").put_object(Bucket=bucket, Key=prefix + MANIFEST, ContentType="application/json",
                                Body=json.dumps(manifest, indent=2).encode())
    return manifest


def snapshots(*, services: Services) -> list[str]:
    """The complete snapshots (those with a manifest), oldest first."""
    bucket = services.settings.backup_bucket
    names = []
    for page in aws.client("s3").get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=BACKUPS,
                                                                          Delimiter="/"):
        names += [p["Prefix"][len(BACKUPS):-1] for p in page.get("CommonPrefixes", [])]
    return [name for name in sorted(names) if S3Storage(bucket).head(f"{BACKUPS}{name}/{MANIFEST}")]


def manifest_of(snapshot: str, *, services: Services) -> dict:
    s3 = aws.client("s3")
    try:
        body = s3.get_object(Bucket=services.settings.backup_bucket, Key=f"{BACKUPS}{snapshot}/{MANIFEST}")["Body"]
    except s3.exceptions.NoSuchKey:
        raise NotFoundError(f"no complete backup {snapshot}") from None
    return json.loads(body.read())


def restore_tables(snapshot: str, *, services: Services, media: bool = True) -> dict:
    """Put every item of the snapshot back (same keys are overwritten, newer items stay), then the objects of
    its videos; returns the items per table and where the objects came from.

    The user counters come back as the snapshot had them; ``maintenance --apply`` then reconciles them
    with whatever changed since.
    """
    manifest = manifest_of(snapshot, services=services)
    bucket = services.settings.backup_bucket
    counts = {}
    for name, entry in manifest["tables"].items():
        with _verified_items(entry, bucket) as items:
            counts[name] = put_items(_MODELS[name].Meta.table_name, items)
    origins = Counter()
    if media:
        with _verified_items(manifest["tables"][Video.__name__], bucket) as items:
            for item in items:
                origins.update(_restore_object(key, services) for key in videos.stored_keys(Video.from_raw_data(item)))
    return {"snapshot": snapshot, "items": counts, "objects": dict(origins)}


def restore_video(video_id: str, *, services: Services, snapshot: str | None = None) -> VideoRestore:
    """Bring back one deleted video: objects first, then its record (charged to its owner's quota again)."""
    try:
        video, origin = videos.get(video_id), "kept"
    except NotFoundError:
        video, origin = _video_from_backups(video_id, snapshot, services)
    objects = {key: _restore_object(key, services) for key in sorted(videos.stored_keys(video))}
    if origin != "kept":
        _put_back(video)
    elif video.status == videos.BROKEN:
        videos.restore_ready(video)
    return VideoRestore(video_id, origin, objects)


def _dump_table(table: str, bucket: str, key: str) -> dict:
    """Stream a consistent scan into a temporary file (never the table in memory), hashing as it goes."""
    digest, count = hashlib.sha256(), 0
    with tempfile.TemporaryFile() as out:
        for page in aws.client("dynamodb").get_paginator("scan").paginate(TableName=table, ConsistentRead=True):
            for item in page["Items"]:
                line = (json.dumps(item, sort_keys=True, separators=(",", ":")) + "\n").encode()
                digest.update(line)
                out.write(line)
                count += 1
        out.seek(0)
        aws.client("s3").upload_fileobj(out, bucket, key, ExtraArgs={"ContentType": "application/x-ndjson"})
    return {"table": table, "key": key, "count": count, "sha256": digest.hexdigest()}


@contextmanager
def _verified_items(entry: dict, bucket: str) -> Iterator[Iterator[dict]]:
    """The items of one table file, after its count and checksum matched the manifest's."""
    with tempfile.TemporaryFile() as local:
        aws.client("s3").download_fileobj(bucket, entry["key"], local)
        local.seek(0)
        digest, count = hashlib.sha256(), 0
        for line in local:
            digest.update(line)
            count += 1
        if (count, digest.hexdigest()) != (entry["count"], entry["sha256"]):
            raise BackupCorruptError(f"{entry['key']} does not match its manifest (count or checksum)")
        local.seek(0)
        yield (json.loads(line) for line in local)


def put_items(table: str, items: Iterable[dict]) -> int:
    """Write DynamoDB-format items in batches (retrying what DynamoDB left unprocessed); returns the count."""
    dynamodb, count = aws.client("dynamodb"), 0
    for batch in batched(items, WRITE_BATCH):
        requests = {table: [{"PutRequest": {"Item": item}} for item in batch]}
        while requests:
            requests = dynamodb.batch_write_item(RequestItems=requests).get("UnprocessedItems")
        count += len(batch)
    return count


def _video_from_backups(video_id: str, snapshot: str | None, services: Services) -> tuple[Video, str]:
    """The record as the newest snapshot (or the one named) holds it."""
    bucket = services.settings.backup_bucket
    for name in [snapshot] if snapshot else reversed(snapshots(services=services)):
        entry = manifest_of(name, services=services)["tables"][Video.__name__]
        with _verified_items(entry, bucket) as items:
            for item in items:
                if item["video_id"]["S"] == video_id:
                    return Video.from_raw_data(item), name
    raise NotFoundError(f"video {video_id} is in no backup")


def _put_back(video: Video) -> None:
    """Charge the owner's quota again, then write the record; a refusal leaves the quota untouched."""
    counted = int(video.status in videos.COUNTED)
    nbytes = videos.stored_bytes(video) if counted else 0
    usage = quotas.Usage.of(video, video.object_sizes.as_dict() if counted else {})
    quotas.settle(video.owner_id, reserved=0, actual=nbytes, videos=counted, usage=usage)
    restored = False
    try:
        restored = videos.put_back(video)
    finally:
        if not restored:  # restored meanwhile by someone else, or not written: the charge goes back
            quotas.release(video.owner_id, used=nbytes, videos=counted, usage=usage)


def _restore_object(key: str, services: Services) -> str:
    """Where the object came back from: "present", "version" (delete markers removed) or "backup"."""
    media = services.storage
    if media.head(key) is not None:
        return "present"
    s3 = aws.client("s3")
    listing = s3.list_object_versions(Bucket=media.bucket, Prefix=key)
    if any(v["Key"] == key for v in listing.get("Versions", [])):
        for marker in listing.get("DeleteMarkers", []):
            if marker["Key"] == key:
                s3.delete_object(Bucket=media.bucket, Key=key, VersionId=marker["VersionId"])
        return "version"
    if S3Storage(services.settings.backup_bucket).head(key) is None:
        raise NotFoundError(f"{key} is neither in the media bucket's versions nor in the backup")
    copy_object(key, source=services.settings.backup_bucket, target=media.bucket)
    return "backup"


def _copy_media(media_bucket: str, backup_bucket: str) -> dict:
    """Copy the media objects the backup does not hold yet; both listings are in key order, so one pass
    over each (a merge) finds them without holding either listing."""
    copied = {"objects": 0, "bytes": 0}
    for prefix in layout.MEDIA_PREFIXES:
        held = S3Storage(backup_bucket).list(prefix)
        for obj in _missing(S3Storage(media_bucket).list(prefix), held):
            copy_object(obj["Key"], source=media_bucket, target=backup_bucket)
            copied["objects"] += 1
            copied["bytes"] += obj["Size"]
    return copied


def _missing(objects: Iterator[dict], held: Iterator[dict]) -> Iterator[dict]:
    """The objects of the first key-ordered listing that the second lacks (same key and size)."""
    other = next(held, None)
    for obj in objects:
        while other is not None and other["Key"] < obj["Key"]:
            other = next(held, None)
        if other is None or (other["Key"], other["Size"]) != (obj["Key"], obj["Size"]):
            yield obj


def copy_object(key: str, *, source: str, target: str) -> None:
    """Server-side copy (multipart when large) keeping the media's Content-Type and Cache-Control."""
    aws.client("s3").copy({"Bucket": source, "Key": key}, target, key,
                          ExtraArgs={"ContentType": layout.content_type(key), "CacheControl": layout.CACHE_FOREVER,
                                     "MetadataDirective": "REPLACE"})
