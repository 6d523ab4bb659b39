"""PynamoDB models: the one definition of every table, its keys and indexes.

The local bootstrap creates tables from ``ALL_MODELS`` and infra/ generates the CDK tables from
them, so a key or index is declared here only. Table names come from settings through
``bind_tables`` (never at import).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from pynamodb.attributes import (
    BooleanAttribute,
    JSONAttribute,
    ListAttribute,
    MapAttribute,
    NumberAttribute,
    NumberSetAttribute,
    TTLAttribute,
    UnicodeAttribute,
    UTCDateTimeAttribute,
)
from pynamodb.exceptions import PynamoDBException
from pynamodb.indexes import AllProjection, GlobalSecondaryIndex, KeysOnlyProjection
from pynamodb.models import Model
from pynamodb.transactions import TransactWrite

from chalicelib.errors import NotFoundError

if TYPE_CHECKING:
    from chalicelib.config import Settings


class _Meta:
    billing_mode = "PAY_PER_REQUEST"


class UsersByTelegramId(GlobalSecondaryIndex):
    class Meta:
        index_name = "by_telegram_id"
        projection = KeysOnlyProjection()

    telegram_id = NumberAttribute(hash_key=True)


class User(Model):
    """A person: quota counters live here and are changed only by conditional updates."""

    class Meta(_Meta):
        table_name = "users"

    user_id = UnicodeAttribute(hash_key=True)
    name = UnicodeAttribute()
    is_admin = BooleanAttribute(default=False)
    quota_bytes = NumberAttribute()
    bytes_used = NumberAttribute(default=0)
    bytes_reserved = NumberAttribute(default=0)
    # quota_bytes - bytes_used - bytes_reserved, kept as an attribute so that a reservation is a
    # single conditional decrement (DynamoDB conditions cannot do arithmetic).
    bytes_available = NumberAttribute()
    video_count = NumberAttribute(default=0)
    # stored bytes and video counts by "platform:<name>", "month:<YYYY-MM>" and "prefix:<key prefix>",
    # moved in the same conditional update as the quota counters (the storage stats read only these)
    usage_bytes = MapAttribute(default=dict)
    usage_count = MapAttribute(default=dict)
    telegram_id = NumberAttribute(null=True)
    created_at = UTCDateTimeAttribute()
    caption_languages = ListAttribute(of=UnicodeAttribute, null=True)  # the captions kept (None: the stage default)
    by_telegram_id = UsersByTelegramId()


class ApiKeysByUser(GlobalSecondaryIndex):
    class Meta:
        index_name = "by_user"
        projection = AllProjection()

    user_id = UnicodeAttribute(hash_key=True)


class ApiKey(Model):
    """One API key, stored as its SHA-256 only; a user may hold several."""

    class Meta(_Meta):
        table_name = "api_keys"

    key_hash = UnicodeAttribute(hash_key=True)
    user_id = UnicodeAttribute()
    label = UnicodeAttribute(null=True)
    created_at = UTCDateTimeAttribute()
    by_user = ApiKeysByUser()


class VideosByOwner(GlobalSecondaryIndex):
    class Meta:
        index_name = "by_owner"
        projection = AllProjection()

    owner_id = UnicodeAttribute(hash_key=True)
    created_at = UTCDateTimeAttribute(range_key=True)


class Video(Model):
    """A captured video: where it came from, what it is (probe) and where its objects are."""

    class Meta(_Meta):
        table_name = "videos"

    video_id = UnicodeAttribute(hash_key=True)
    owner_id = UnicodeAttribute()
    created_at = UTCDateTimeAttribute()
    updated_at = UTCDateTimeAttribute()
    status = UnicodeAttribute()
    source = UnicodeAttribute(default="api")
    kind = UnicodeAttribute(default="video")  # "video", "image" (the file is a JPEG) or "audio" (AAC in M4A)
    source_url = UnicodeAttribute()
    canonical_url = UnicodeAttribute()
    owner_source = UnicodeAttribute()  # "{owner_id}#{platform}:{platform_id}": the de-duplication key (VideoSource)
    platform = UnicodeAttribute()
    platform_id = UnicodeAttribute(null=True)
    job_id = UnicodeAttribute(null=True)
    title = UnicodeAttribute(null=True)
    tags = ListAttribute(of=UnicodeAttribute, default=list)
    note = UnicodeAttribute(null=True)
    # probe metadata, named as yt-dlp names them (compatibility with the original PRSNL backend)
    duration = NumberAttribute(null=True)
    width = NumberAttribute(null=True)
    height = NumberAttribute(null=True)
    fps = NumberAttribute(null=True)
    codec = UnicodeAttribute(null=True)
    audio_codec = UnicodeAttribute(null=True)
    average_bitrate = NumberAttribute(null=True)
    video_bitrate = NumberAttribute(null=True)
    audio_bitrate = NumberAttribute(null=True)
    filesize = NumberAttribute(null=True)
    profile = UnicodeAttribute(null=True)
    pix_fmt = UnicodeAttribute(null=True)
    sample_rate = NumberAttribute(null=True)
    channels = NumberAttribute(null=True)
    # platform metadata (title, uploader, upload_date, description, view_count...)
    platform_meta = JSONAttribute(null=True)
    file_key = UnicodeAttribute(null=True)
    renditions = MapAttribute(default=dict)
    thumbnails = MapAttribute(default=dict)
    bytes_reserved = NumberAttribute(default=0)
    bytes_stored = NumberAttribute(default=0)
    object_sizes = MapAttribute(default=dict)  # S3 key -> bytes of every stored object (file, renditions, thumbnails)
    error_code = UnicodeAttribute(null=True)
    error_message = UnicodeAttribute(null=True)
    # a further item of a multi-item post (X post, carousel): the capture's record and this item's place in it
    parent_video_id = UnicodeAttribute(null=True)
    item_index = NumberAttribute(null=True)
    # the version its watch link carries: rotating it (a new share) makes every earlier link answer 404
    share_version = NumberAttribute(default=0)
    # language -> {origin, source_language}: the WebVTT captions stored (layout.caption_key), and their plain text,
    # bounded (the whole text is at layout.transcript_key) so the item stays far below DynamoDB's 400 KB
    captions = MapAttribute(default=dict)
    transcript = UnicodeAttribute(null=True)
    by_owner = VideosByOwner()


class VideoSource(Model):
    """Which video holds a capture's de-duplication key: one item per (owner, link), written in the same
    transaction as the video it names, so two captures of one link can never both be created."""

    class Meta(_Meta):
        table_name = "video_sources"

    owner_source = UnicodeAttribute(hash_key=True)
    video_id = UnicodeAttribute()


class JobsByStatus(GlobalSecondaryIndex):
    class Meta:
        index_name = "by_status"
        projection = AllProjection()

    status = UnicodeAttribute(hash_key=True)
    updated_at = UTCDateTimeAttribute(range_key=True)


class Job(Model):
    """One unit of work for the worker; its conditional status change is the idempotency record."""

    class Meta(_Meta):
        table_name = "jobs"

    job_id = UnicodeAttribute(hash_key=True)
    video_id = UnicodeAttribute()
    owner_id = UnicodeAttribute()
    kind = UnicodeAttribute(default="capture")
    status = UnicodeAttribute()
    params = JSONAttribute(null=True)
    progress = JSONAttribute(null=True)
    attempts = NumberAttribute(default=0)
    lease_until = UTCDateTimeAttribute(null=True)
    bytes_reserved = NumberAttribute(default=0)  # a rendition's quota reservation (a capture's is on its video)
    # a fanned-out transcode: how many segments, which have finished (a set: ADD twice counts once), and the
    # percent of each one running (its job's progress is their sum)
    segments = NumberAttribute(null=True)
    segments_done = NumberSetAttribute(null=True)
    segment_percent = MapAttribute(null=True)
    error_code = UnicodeAttribute(null=True)
    error_message = UnicodeAttribute(null=True)
    created_at = UTCDateTimeAttribute()
    updated_at = UTCDateTimeAttribute()
    expires_at = TTLAttribute(null=True)
    by_status = JobsByStatus()


class StorageSnapshot(Model):
    """One day's storage figures of one user (or of everyone, owner ``*``): the storage trend series."""

    class Meta(_Meta):
        table_name = "storage_snapshots"

    owner_id = UnicodeAttribute(hash_key=True)
    day = UnicodeAttribute(range_key=True)  # YYYY-MM-DD (UTC)
    bytes_used = NumberAttribute(default=0)
    bytes_reserved = NumberAttribute(default=0)
    quota_bytes = NumberAttribute(default=0)
    video_count = NumberAttribute(default=0)
    users = NumberAttribute(null=True)  # global snapshot only
    taken_at = UTCDateTimeAttribute()


class IdempotencyKey(Model):
    """A delivery seen once (a Telegram update id): written with a conditional put, expired by TTL."""

    class Meta(_Meta):
        table_name = "idempotency"

    key = UnicodeAttribute(hash_key=True)
    created_at = UTCDateTimeAttribute()
    expires_at = TTLAttribute()


class OpsRecord(Model):
    """Operations data: the worker's heartbeat (``heartbeat``/``worker``) and the hourly job rollups
    (``rollup``/``<hour>#<platform>``), whose counters are attributes added with ADD (see ops.rollups)."""

    class Meta(_Meta):
        table_name = "ops"

    pk = UnicodeAttribute(hash_key=True)
    sk = UnicodeAttribute(range_key=True)
    at = UTCDateTimeAttribute(null=True)
    data = JSONAttribute(null=True)
    expires_at = TTLAttribute(null=True)


class EventsDue(GlobalSecondaryIndex):
    """Sparse: only events still to deliver carry ``pending``, so the index holds exactly the outbox's queue."""

    class Meta:
        index_name = "by_due"
        projection = AllProjection()

    pending = UnicodeAttribute(hash_key=True)
    due_at = UTCDateTimeAttribute(range_key=True)


class Event(Model):
    """An outbox entry: one change of a video (ready, failed, deleted, a rendition ready), written in the same
    transaction as the change, delivered afterwards at least once under its stable id (see chalicelib.events)."""

    class Meta(_Meta):
        table_name = "events"

    event_id = UnicodeAttribute(hash_key=True)
    type = UnicodeAttribute()
    owner_id = UnicodeAttribute()
    video_id = UnicodeAttribute()
    occurred_at = UTCDateTimeAttribute()
    data = JSONAttribute()
    pending = UnicodeAttribute(null=True)  # set while some destination still waits for it
    due_at = UTCDateTimeAttribute(null=True)  # next delivery attempt (a claim moves it one lease ahead)
    delivered = ListAttribute(of=UnicodeAttribute, default=list)  # destinations that took it
    attempts = NumberAttribute(default=0)
    last_error = UnicodeAttribute(null=True)
    expires_at = TTLAttribute()
    by_due = EventsDue()


ALL_MODELS: tuple[type[Model], ...] = (User, ApiKey, Video, VideoSource, Job, StorageSnapshot, IdempotencyKey,
                                       OpsRecord, Event)

TABLE_SETTINGS = {User: "users_table", ApiKey: "api_keys_table", Video: "videos_table",
                  VideoSource: "video_sources_table", Job: "jobs_table",
                  StorageSnapshot: "snapshots_table", IdempotencyKey: "idempotency_table", OpsRecord: "ops_table",
                  Event: "events_table"}


KEY_BYTES = 1024  # DynamoDB's limit for a sort key's value (a partition key's is 2,048): within both


def storable_key(value: str) -> bool:
    """A key DynamoDB looks up: a non-empty string within its limit (past it, DynamoDB refuses the request with an
    error rather than find nothing). No record has a longer key: ours are ids and dates."""
    return isinstance(value, str) and 0 < len(value.encode("utf-8", "surrogatepass")) <= KEY_BYTES


def fetch(model: type[Model], key: str, *, owner_id: str | None = None) -> Model:
    """The record, or NotFoundError; another owner's record answers exactly like a missing one, and so does a key no
    record can have (an id of 3,000 characters in a path)."""
    try:
        record = model.get(key) if storable_key(key) else None
    except model.DoesNotExist:
        record = None
    if record is None or (owner_id is not None and record.owner_id != owner_id):
        raise NotFoundError(f"{model.__name__.lower()} {key} not found")
    return record


def condition_failed(exc: Exception) -> bool:
    """True when a PynamoDB write (or one item of a transaction) failed only because its condition did not hold."""
    if getattr(exc, "cause_response_code", None) == "ConditionalCheckFailedException":
        return True
    return any(failed_items(exc))


def applied(write: Callable[[], object]) -> bool:
    """Run one conditional write (or transaction); False, not an error, when only its condition did not hold."""
    try:
        write()
    except PynamoDBException as exc:
        if condition_failed(exc):
            return False
        raise
    return True


def failed_items(exc: Exception) -> list[bool]:
    """For a cancelled transaction, one flag per item in the order written: True where its condition did not hold."""
    reasons = getattr(exc, "cancellation_reasons", None) or ()
    return [reason is not None and reason.code == "ConditionalCheckFailed" for reason in reasons]


def to_json_dict(record: Model, *, hide: tuple[str, ...] = ()) -> dict:
    """A record as plain JSON values (datetimes as ISO 8601, maps as dicts)."""
    data = {}
    for name, value in record.attribute_values.items():
        if name in hide:
            continue
        if hasattr(value, "isoformat"):
            value = value.isoformat()
        elif hasattr(value, "as_dict"):
            value = value.as_dict()
        data[name] = value
    return data


def transact(*, saves: tuple = (), deletes: tuple = (), updates: tuple[tuple[Model, list, object], ...] = ()) -> None:
    """Write several records all or nothing (no half-written capture), in this order: ``saves`` and ``deletes``
    (each a record, or a (record, condition) pair), then ``updates`` (record, actions, condition)."""
    saves, deletes = [_with_condition(item) for item in saves], [_with_condition(item) for item in deletes]
    model = type(next(item[0] for item in (*saves, *deletes, *updates)))
    # the model's own connection: a new one would build a botocore session and client (~0.2 s of CPU) per write
    with TransactWrite(connection=model._get_connection().connection) as tx:
        for record, condition in saves:
            tx.save(record, condition=condition)
        for record, condition in deletes:
            tx.delete(record, condition=condition)
        for record, actions, condition in updates:
            tx.update(record, actions=actions, condition=condition)


def _with_condition(item) -> tuple:
    return item if isinstance(item, tuple) else (item, None)


def bind_tables(settings: Settings) -> None:
    """Point every model at the stage's table names, region and endpoint."""
    for model in ALL_MODELS:
        binding = (getattr(settings, TABLE_SETTINGS[model]), settings.region, settings.aws_endpoint_url)
        if binding == (model.Meta.table_name, getattr(model.Meta, "region", None), getattr(model.Meta, "host", None)):
            continue  # keep the connection: PynamoDB builds a botocore session per connection (~0.2 s each)
        model.Meta.table_name, model.Meta.region, model.Meta.host = binding
        model._connection = None
