"""What ``make run`` keeps between runs. moto holds everything in memory, so the stack writes its tables and
buckets through to ``.local/data/<stage>/`` every ``PRSNL_LOCAL_SAVE_SECONDS`` and loads them into the new,
empty moto at start.

  tables/<Model>.jsonl          every item of the table, in DynamoDB's JSON (the backup's format)
  s3/<bucket>/objects/<key>     the current version of each object
  s3/<bucket>/index.json        key -> ETag, size and Content-Type of each saved object

A pass takes the tables first (the items written since the last pass, from the moto server as of one moment: see
moto_server.py), then copies the new and changed objects, then renames the tables' and the indexes' new files
into place: a record saved always finds the objects it pointed to when it was read. Every file is written under
a temporary name and renamed, so a crash leaves the last complete pass. Not kept: SQS
messages (the start sends queued jobs again), old object versions and delete markers, CloudWatch metrics.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from botocore.exceptions import ClientError

from chalicelib import aws
from chalicelib.config import Settings
from chalicelib.local.moto_server import TablesCopy
from chalicelib.observability import logger
from chalicelib.ops.backup import put_items
from chalicelib.records.models import ALL_MODELS
from chalicelib.storage.s3 import S3Storage

INDEX = "index.json"


@dataclass
class Pass:
    """What one save or load did."""

    items: int = 0  # read from the tables (written since the pass before), or loaded into them
    objects_written: int = 0
    objects_removed: int = 0
    bytes_written: int = 0
    seconds: float = 0.0
    pending: list = field(default_factory=list)  # (temporary file, final file) renamed when the pass commits
    tables: TablesCopy | None = None  # the tables as this pass read them: the next asks only for what was written since


def save(data: Path, settings: Settings, *, tables: TablesCopy | None = None) -> Pass:
    """One pass: the tables as they are now (brought up to date from ``tables``, the last pass's, or read whole),
    then the objects, then the new files renamed into place."""
    started, done = time.monotonic(), Pass()
    paths = {model.Meta.table_name: data / "tables" / f"{model.__name__}.jsonl" for model in ALL_MODELS}
    done.tables = tables or TablesCopy(settings.region, list(paths))
    if not all(path.exists() for path in paths.values()):
        done.tables.writes = None  # a table's file is missing: every table is read whole again
    for table, written in done.tables.refresh().items():
        done.items += len(written)
        _stage_table(paths[table], done.tables.items[table].values(), done)
    removed = {bucket: _stage_bucket(data / "s3" / bucket, bucket, done) for bucket in _buckets(settings)}
    for temporary, final in done.pending:
        os.replace(temporary, final)
    for bucket, keys in removed.items():  # no longer in the index: their files can go
        for key in keys:
            (data / "s3" / bucket / "objects" / key).unlink(missing_ok=True)
        done.objects_removed += len(keys)
    done.seconds = time.monotonic() - started
    return done


class Unreadable(Exception):
    """A saved file that cannot be read back: the start stops there, and leaves the saved library as it is."""


def load(data: Path, settings: Settings) -> Pass:
    """Put every saved item and object into the (new) tables and buckets; nothing saved, nothing done."""
    started, done, path = time.monotonic(), Pass(), data
    try:
        for model in ALL_MODELS:
            path = data / "tables" / f"{model.__name__}.jsonl"
            if path.exists():
                with path.open() as lines:
                    done.items += put_items(model.Meta.table_name, (json.loads(line) for line in lines))
        s3 = aws.client("s3")
        for bucket in _buckets(settings):
            for key, meta in _index(data / "s3" / bucket).items():
                path = data / "s3" / bucket / "objects" / key
                with path.open("rb") as body:
                    s3.put_object(Bucket=bucket, Key=key, Body=body, ContentType=meta["content_type"],
                                  CacheControl=meta.get("cache_control") or "")
                done.objects_written += 1
                done.bytes_written += meta["size"]
    except (OSError, ValueError, KeyError, ClientError) as error:
        raise Unreadable(f"{path} could not be read back ({type(error).__name__}: {error})") from error
    done.seconds = time.monotonic() - started
    return done


def saved_anything(data: Path) -> bool:
    return (data / "tables").is_dir()


def _buckets(settings: Settings) -> tuple[str, str]:
    return settings.bucket, settings.backup_bucket


def _stage_table(path: Path, lines: Iterable[str], done: Pass) -> None:
    """The table's items (a line of JSON each) into a temporary file, when they changed."""
    text = "".join(sorted(line + "\n" for line in lines))
    if path.exists() and _digest(path.read_bytes()) == _digest(text.encode()):
        return
    done.pending.append((_write_temporary(path, text.encode()), path))


def _stage_bucket(directory: Path, bucket: str, done: Pass) -> set[str]:
    """Copy the objects that are new or changed since the index; stage the new index; returns the keys gone."""
    before, after = _index(directory), {}
    s3 = aws.client("s3")
    for obj in S3Storage(bucket).list(""):
        key, etag = obj["Key"], obj["ETag"]
        if before.get(key, {}).get("etag") == etag:
            after[key] = before[key]
            continue
        answer = s3.get_object(Bucket=bucket, Key=key)
        target = directory / "objects" / key
        target.parent.mkdir(parents=True, exist_ok=True)
        with target.with_name(target.name + ".part").open("wb") as out:
            shutil.copyfileobj(answer["Body"], out)
        os.replace(target.with_name(target.name + ".part"), target)
        after[key] = {"etag": etag, "size": obj["Size"], "content_type": answer.get("ContentType"),
                      "cache_control": answer.get("CacheControl")}
        done.objects_written += 1
        done.bytes_written += obj["Size"]
    if after != before or not (directory / INDEX).exists():
        done.pending.append((_write_temporary(directory / INDEX, json.dumps(after, indent=1).encode()),
                             directory / INDEX))
    return set(before) - set(after)


def _index(directory: Path) -> dict:
    try:
        return json.loads((directory / INDEX).read_text())
    except FileNotFoundError:
        return {}


def _write_temporary(path: Path, data: bytes) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(path.name + ".new")
    with temporary.open("wb") as out:
        out.write(data)
        out.flush()
        os.fsync(out.fileno())
    return temporary


def _digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def keep_saving(data: Path, settings: Settings, *, interval: float, stop: threading.Event,
                tables: TablesCopy | None = None) -> None:
    """The write-through: a pass every ``interval`` seconds until ``stop`` (the stack saves once more after), each
    from the tables as the one before read them (``tables``: the first one's)."""
    while not stop.wait(interval):
        try:
            tables = save(data, settings, tables=tables).tables
        except Exception:  # moto busy or going away: the next pass reads every table again
            tables = None
            logger.exception("saving the local stack's state failed; trying again")
