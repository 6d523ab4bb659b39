"""Video records: the only module that writes them.

Reads (owner-checked, listed, looked up by source) and every change a video goes through, each a
named, conditional write: created with its job, redirected (a short link), reserved, stored
(``ready``, and the further items of a post), failed, broken, restored, deleted. A change that
belongs to a transaction is returned as a ``(record, actions, condition)`` item for the caller's
commit; the others are written here and answer False when their condition did not hold.
"""

from __future__ import annotations

import base64
import binascii
import json
from datetime import datetime
from typing import TYPE_CHECKING

from chalicelib.errors import BadRequestError
from chalicelib.records import events, jobs
from chalicelib.records.models import Job, Video, VideoSource, applied, fetch, storable_key, to_json_dict, transact
from chalicelib.storage import layout

if TYPE_CHECKING:
    from chalicelib.platforms import Resolved

QUEUED, PROCESSING, READY, FAILED, BROKEN = "queued", "processing", "ready", "failed", "broken"
STATUSES = (QUEUED, PROCESSING, READY, FAILED, BROKEN)
IN_FLIGHT = (QUEUED, PROCESSING)
COUNTED = (READY, BROKEN)  # the statuses whose bytes the quota holds
# what a record's file is: a browser MP4, a JPEG (photos, image posts) or AAC in M4A (audio captures, podcasts)
VIDEO, IMAGE, AUDIO = "video", "image", "audio"
MAX_PAGE = 100
# what a search reads of each video: the keys and the fields it matches (the matches are then read in full)
SEARCHED = ("video_id", "owner_id", "created_at", "title", "tags", "note", "platform_meta", "transcript")
SEARCH_PAGE = 250  # index items a search reads per request: a full page soon, the whole index in few requests
# Platform metadata fields the original PRSNL backend answered at the top level (yt-dlp names).
PLATFORM_FIELDS = ("uploader", "upload_date", "view_count", "like_count", "comment_count", "description")


def owner_source(owner_id: str, dedupe_key: str) -> str:
    return f"{owner_id}#{dedupe_key}"


# -- reads ------------------------------------------------------------------------------------------------------


def get(video_id: str) -> Video:
    return fetch(Video, video_id)


def get_for_owner(video_id: str, owner_id: str) -> Video:
    return fetch(Video, video_id, owner_id=owner_id)


def find(video_id: str) -> Video | None:
    try:
        return Video.get(video_id)
    except Video.DoesNotExist:
        return None


def claimed_video_id(owner_id: str, dedupe_key: str) -> str | None:
    """The video that holds this owner's link."""
    return _holder(owner_source(owner_id, dedupe_key))


def _holder(source: str) -> str | None:
    """Read consistently: it decides whether a capture is new."""
    try:
        return VideoSource.get(source, consistent_read=True).video_id
    except VideoSource.DoesNotExist:
        return None


def find_by_source(owner_id: str, dedupe_key: str) -> Video | None:
    claimed = claimed_video_id(owner_id, dedupe_key)
    return find(claimed) if claimed else None


def list_for_owner(owner_id: str, *, limit: int = 20, cursor: str | None = None, status: str | None = None,
                   platform: str | None = None, query: str | None = None,
                   tag: str | None = None) -> tuple[list[Video], str | None]:
    """Newest first, one page; the cursor is opaque to callers and only ever resumes the caller's own list.

    ``query`` keeps the videos whose title, uploader, tags, note and transcript hold every one of its words
    (case-insensitive)
    and ``tag`` those with that tag: DynamoDB cannot compare case-insensitively, so these are checked here, on
    the owner's index read page by page from the cursor until the page is full.
    """
    if not 1 <= limit <= MAX_PAGE:
        raise BadRequestError(f"limit must be between 1 and {MAX_PAGE}", code="invalid_limit")
    if status and status not in STATUSES:
        raise BadRequestError(f"status must be one of {', '.join(STATUSES)}", code="invalid_status")
    condition = None
    if status:
        condition = Video.status == status
    if platform:
        condition = (Video.platform == platform) if condition is None else condition & (Video.platform == platform)
    start = decode_cursor(cursor, owner_id)
    words, wanted_tag = (query or "").lower().split(), (tag or "").strip().lower()
    if words or wanted_tag:
        found, cursor = _matching(Video.by_owner.query(owner_id, scan_index_forward=False, filter_condition=condition,
                                                       last_evaluated_key=start, attributes_to_get=list(SEARCHED),
                                                       page_size=SEARCH_PAGE),
                                  lambda video: matches(video, words, wanted_tag), limit)
        return _whole(found), cursor
    results = Video.by_owner.query(owner_id, scan_index_forward=False, limit=limit, filter_condition=condition,
                                   last_evaluated_key=start, page_size=limit if condition is None else MAX_PAGE)
    page = list(results)
    last = results.last_evaluated_key
    return page, encode_cursor(last) if last and len(page) == limit else None


def matches(video: Video, words: list[str], tag: str) -> bool:
    """Every word in the title, uploader, tags, note or transcript, and the tag among its tags (all lower-case
    already)."""
    tags = [t.lower() for t in video.tags or []]
    uploader = (video.platform_meta or {}).get("uploader") or ""
    text = " ".join([video.title or "", uploader, *tags, video.note or "", video.transcript or ""]).lower()
    return all(word in text for word in words) and (not tag or tag in tags)


def _matching(results, keep, limit: int) -> tuple[list[Video], str | None]:
    """The first ``limit`` videos ``keep`` accepts; the cursor resumes right after the last one."""
    page = []
    for video in results:
        if keep(video):
            page.append(video)
            if len(page) == limit:
                return page, encode_cursor(index_key(video))
    return page, None


def _whole(found: list[Video]) -> list[Video]:
    """The matches read in full (the search read only the fields it looks at), in their order."""
    by_id = {video.video_id: video for video in Video.batch_get([video.video_id for video in found])}
    return [by_id[video.video_id] for video in found if video.video_id in by_id]


INDEX_KEY = ("video_id", "owner_id", "created_at")  # a position in the owner index, as a cursor holds it


def index_key(video: Video) -> dict:
    """The owner index position of a video, as DynamoDB states it (what ``last_evaluated_key`` holds)."""
    return {"video_id": {"S": video.video_id}, "owner_id": {"S": video.owner_id},
            "created_at": {"S": Video.created_at.serialize(video.created_at)}}


def encode_cursor(key: dict) -> str:
    return base64.urlsafe_b64encode(json.dumps(key, separators=(",", ":")).encode()).decode().rstrip("=")


def decode_cursor(cursor: str | None, owner_id: str) -> dict | None:
    """The index position a cursor stands for; refused unless it is a position in this owner's list."""
    if not cursor:
        return None
    try:
        key = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
        values = {name: key[name]["S"] for name in INDEX_KEY}
        as_given = key == {name: {"S": value} for name, value in values.items()}  # these names, each a string alone
        valid = as_given and all(storable_key(value) for value in values.values())
    except (ValueError, TypeError, KeyError, binascii.Error):
        valid = False
    if not valid or values["owner_id"] != owner_id:
        raise BadRequestError("the cursor is not one this list gave", code="invalid_cursor")
    return key


def in_flight(video: Video) -> bool:
    """A capture or a rendition still running: its bytes are moving between reserved and used."""
    entries = _as_dict(video.renditions).values()
    return video.status in IN_FLIGHT or any(entry.get("status") == QUEUED for entry in entries)


def stored_keys(video: Video) -> set[str]:
    """Every object the record says exists: its sized objects, plus file and thumbnails of older records."""
    keys = set(_as_dict(video.object_sizes)) | set(_as_dict(video.thumbnails).values())
    if video.file_key:
        keys.add(video.file_key)
    return keys


def stored_bytes(video: Video) -> int:
    return sum(_as_dict(video.object_sizes).values()) or video.bytes_stored or 0


def object_keys(video: Video) -> list[str]:
    """Every key the video has or may be writing right now (keys are deterministic)."""
    languages = tuple(captions_of(video))
    return sorted(set(layout.keys_of(video.video_id, video.created_at, languages)) | stored_keys(video))


def captions_of(video: Video) -> dict[str, dict]:
    """Language -> {origin, source_language} of the captions stored, in the order they were stored (the owner's)."""
    return _as_dict(video.captions)


def job_ids(video: Video) -> list[str]:
    """Every job that works on the video: its capture and each rendition."""
    ids = [video.job_id] + [entry.get("job_id") for entry in video.renditions.as_dict().values()]
    return [job_id for job_id in ids if job_id]


def _as_dict(value) -> dict:
    return value.as_dict() if hasattr(value, "as_dict") else dict(value or {})


# -- a capture's life -------------------------------------------------------------------------------------------


def new_capture(video_id: str, *, owner_id: str, job_id: str, now: datetime, source: str, url: str,
                resolved: Resolved, title: str | None, tags: list[str], note: str | None, kind: str) -> Video:
    """A queued capture, saved by the caller in one transaction with its job."""
    return Video(video_id, owner_id=owner_id, created_at=now, updated_at=now, status=QUEUED, source=source,
                 source_url=url, canonical_url=resolved.canonical_url,
                 owner_source=owner_source(owner_id, resolved.dedupe_key), platform=resolved.platform,
                 platform_id=resolved.platform_id, title=title, tags=list(tags), note=note, kind=kind, job_id=job_id)


def create_with_job(video: Video, job: Job, *, claimed: str | None) -> bool:
    """A new capture and its job, both or neither, holding the link's source: only while the source is still
    held by ``claimed`` (None: by nobody), so of N simultaneous captures of one link exactly one is created.
    False when another capture won."""
    return applied(lambda: transact(saves=(video, job),
                                    updates=(_source_held(video.owner_source, video.video_id, claimed),)))


def requeue(video: Video, job: Job, *, changes: dict) -> bool:
    """A failed capture queued again under its own id with the new ``job``, both or neither, its failed job gone
    in the same write: only while it is still failed under that job, so of simultaneous retries (or captures of
    its link) exactly one queues it. ``changes`` are the fields a new capture of the link brings (its source,
    link, title...). False when the video was deleted or another retry won."""
    failed_job = video.job_id
    actions = [Video.status.set(QUEUED), Video.job_id.set(job.job_id), Video.error_code.remove(),
               Video.error_message.remove(), Video.bytes_reserved.set(0), Video.updated_at.set(job.created_at)]
    actions += [getattr(Video, name).set(value) for name, value in changes.items()]
    condition = (Video.status == FAILED) & (Video.job_id == failed_job if failed_job else Video.job_id.does_not_exist())
    deletes = (jobs.superseded(failed_job),) if failed_job else ()
    if not applied(lambda: transact(saves=(job,), deletes=deletes, updates=((video, actions, condition),))):
        return False
    video.refresh(consistent_read=True)
    return True


def undo_requeue(video: Video, job: Job, *, code: str, message: str) -> None:
    """Take back a retry whose job could not be queued: the video is failed again (for that reason, so it can be
    retried once more) and the job nobody would run is gone."""
    transact(deletes=(job,), updates=((video, [Video.status.set(FAILED), Video.error_code.set(code),
                                               Video.error_message.set(message)],
                                       (Video.status == QUEUED) & (Video.job_id == job.job_id)),))


def undo_create(video: Video, job: Job) -> None:
    """Take back a capture whose job could not be queued: nothing would ever run it."""
    transact(deletes=(video, job, _source_released(video)))


def remove(video: Video) -> None:
    """Drop a record nobody keeps: a short link's duplicate of a video the owner has, with the source it held."""
    transact(deletes=removal(video))


def removal(video: Video) -> tuple:
    """``remove``'s deletes, for a transaction of the caller's."""
    return (video, *_held_source(video))


def redirected(video: Video, resolved: Resolved, *, claimed: str | None, replacing: Video | None) -> bool:
    """A short link became the item it leads to: that item's platform, id and de-duplication key, whose source the
    video now holds instead of the short link's (only while the item's source is held by ``claimed``; a failed
    earlier try of the item, ``replacing``, goes in the same write). False when the video was deleted or another
    capture took the item's source meanwhile."""
    source = owner_source(video.owner_id, resolved.dedupe_key)
    actions = [Video.canonical_url.set(resolved.canonical_url), Video.platform.set(resolved.platform),
               Video.platform_id.set(resolved.platform_id) if resolved.platform_id else Video.platform_id.remove(),
               Video.owner_source.set(source)]
    deletes = (*_held_source(video), *(((replacing, Video.status == FAILED),) if replacing is not None else ()))
    if not applied(lambda: transact(deletes=deletes, updates=((video, actions, Video.video_id.exists()),
                                                              _source_held(source, video.video_id, claimed)))):
        return False
    video.refresh(consistent_read=True)  # the worker goes on with the item's link
    return True


def _source_held(source: str, video_id: str, claimed: str | None) -> tuple:
    """The source names ``video_id`` from now on, as a transaction item: only while it names ``claimed``."""
    condition = VideoSource.video_id.does_not_exist() if claimed is None else VideoSource.video_id == claimed
    return VideoSource(source), [VideoSource.video_id.set(video_id)], condition


def _source_released(video: Video) -> tuple:
    return VideoSource(video.owner_source), VideoSource.video_id == video.video_id


def _held_source(video: Video) -> tuple:
    """The release of the video's source, when the video holds one (a post's further items hold none)."""
    return (_source_released(video),) if _holder(video.owner_source) == video.video_id else ()


def reserve(video: Video, nbytes: int) -> bool:
    """Record the bytes a capture took from the quota: from here exactly one of the worker's cleanup, the reaper
    or a delete gives them back (whichever clears ``bytes_reserved``). False when the video was deleted meanwhile."""
    return applied(lambda: video.update(actions=[Video.bytes_reserved.set(nbytes), Video.status.set(PROCESSING)],
                                        condition=Video.video_id.exists()))


def reservation_cleared(video: Video, nbytes: int, *, now: datetime) -> tuple:
    """The reservation taken off the video, as a transaction item: it holds only while the video still has exactly
    these bytes reserved, so the quota gets them back once (see ``quotas.give_back_reservation``)."""
    return video, [Video.bytes_reserved.set(0), Video.updated_at.set(now)], Video.bytes_reserved == nbytes


def stored_fields(*, kind: str, file_key: str, thumbnails: dict[str, str], sizes: dict[str, int], probe: dict,
                  meta: dict, now: datetime, captions: dict | None = None, transcript: str | None = None) -> dict:
    """The record fields of one stored item: status, keys, sizes, probe and platform metadata, captions."""
    fields = {"status": READY, "kind": kind, "file_key": file_key, "thumbnails": thumbnails,
              "bytes_stored": sum(sizes.values()), "object_sizes": sizes, "bytes_reserved": 0, "updated_at": now,
              "platform_meta": meta, "captions": captions or {}}
    if transcript:
        fields["transcript"] = transcript
    fields.update({name: value for name, value in probe.items() if value is not None and hasattr(Video, name)})
    return fields


def ready_update(video: Video, fields: dict, *, title: str | None) -> tuple:
    """The capture stored (``stored_fields``), its earlier error gone, the platform's title when it had none: a
    transaction item of the worker's commit, which holds only while the video exists."""
    actions = [getattr(Video, name).set(value) for name, value in fields.items()]
    actions += [Video.error_code.remove(), Video.error_message.remove()]
    if not video.title and title:
        actions.append(Video.title.set(title))
    return video, actions, Video.video_id.exists()


def further_item(parent: Video, video_id: str, *, index: int, fields: dict, meta: dict) -> Video:
    """A further item of a post: a record of its own (listed, counted and deleted like any capture), grouped
    under the capture by ``parent_video_id`` and ``item_index``, with a de-duplication key of its own. Saved in
    the capture's commit."""
    return Video(video_id, owner_id=parent.owner_id, created_at=parent.created_at, source=parent.source,
                 source_url=parent.source_url, canonical_url=parent.canonical_url,
                 owner_source=f"{parent.owner_source}#{index}", platform=parent.platform,
                 platform_id=meta.get("platform_id"), title=meta.get("title"), tags=list(parent.tags),
                 note=parent.note, parent_video_id=parent.video_id, item_index=index, **fields)


def fail_for_job(video: Video, job: Job, *, now: datetime, code: str, message: str) -> bool:
    """The video of a job that failed for good (the worker's or the reaper's verdict): a capture's video fails (while
    the job is still its job: a retry gave it another), a rendition's stays ready with that rendition failed. False
    when the video was deleted or retried meanwhile."""
    if job.kind == jobs.SEGMENT:
        return False  # a segment's capture fails the video, after giving back the reservation the video holds
    quality = job.params["quality"] if job.kind == jobs.RENDITION else None
    return fail_waiting(video, job.job_id, quality, now=now, code=code, message=message)


def waiting_for(video: Video) -> list[tuple[str, str | None]]:
    """The jobs the video waits for, as (job id, quality): its capture's (quality None) while it is queued or
    processing, and each queued rendition's."""
    waits = [(video.job_id, None)] if video.status in IN_FLIGHT and video.job_id else []
    return waits + [(entry["job_id"], quality) for quality, entry in _as_dict(video.renditions).items()
                    if entry.get("status") == QUEUED and entry.get("job_id")]


def fail_waiting(video: Video, job_id: str, quality: str | None, *, now: datetime, code: str, message: str) -> bool:
    """The capture (``quality`` None) or the rendition that ``job_id`` was making fails with it; False when the
    video was deleted, or that part of it is another job's by now (retried)."""
    if quality is not None:
        slot = Video.renditions[quality]
        entry = {"status": FAILED, "job_id": job_id, "error_code": code, "error_message": message}
        return applied(lambda: video.update(actions=[slot.set(entry), Video.updated_at.set(now)],
                                            condition=Video.video_id.exists() & (slot["job_id"] == job_id)))
    actions = [Video.status.set(FAILED), Video.error_code.set(code), Video.error_message.set(message),
               Video.bytes_reserved.set(0), Video.updated_at.set(now)]
    event = events.failed(video, now=now, code=code, message=message)  # the outbox's, in the same write
    still_its_job = Video.video_id.exists() & (Video.job_id == job_id)
    return applied(lambda: transact(saves=(event,), updates=((video, actions, still_its_job),)))


# -- renditions -------------------------------------------------------------------------------------------------


def claim_rendition(video: Video, quality: str, entry: dict, *, now: datetime) -> bool:
    """Take the quality for one job: only when no rendition of it exists or the last try failed."""
    slot = Video.renditions[quality]
    return applied(lambda: video.update(
        actions=[slot.set(entry), Video.updated_at.set(now)],
        condition=Video.video_id.exists() & (slot.does_not_exist() | (slot["status"] == FAILED))))


def rendition_ready_update(video: Video, quality: str, entry: dict, *, key: str, size: int, now: datetime) -> tuple:
    """A rendition stored: its entry, its object's size and the video's stored bytes, as the commit's item."""
    actions = [Video.renditions[quality].set(entry), Video.object_sizes[key].set(size), Video.bytes_stored.add(size),
               Video.updated_at.set(now)]
    return video, actions, Video.video_id.exists()


# -- what the owner changes ------------------------------------------------------------------------------------


def edit(video: Video, changes: dict, *, now: datetime) -> bool:
    """The owner's edit of ``title``, ``tags`` and ``note`` (a None title or note removes it); False when the video
    was deleted meanwhile."""
    actions = [Video.updated_at.set(now)]
    for name, value in changes.items():
        attribute = getattr(Video, name)
        actions.append(attribute.remove() if value is None else attribute.set(value))
    return applied(lambda: video.update(actions=actions, condition=Video.video_id.exists()))


def rotate_share(video: Video, *, now: datetime) -> bool:
    """A new share version: the watch link made from the old one stops working. False when the video is gone."""
    return applied(lambda: video.update(actions=[Video.share_version.add(1), Video.updated_at.set(now)],
                                        condition=Video.video_id.exists()))


# -- storage care -----------------------------------------------------------------------------------------------


def mark_broken(video: Video, missing: list[str], *, now: datetime) -> bool:
    """A ready video whose stored objects are gone; False when it is not ready any more."""
    return applied(lambda: video.update(
        actions=[Video.status.set(BROKEN), Video.error_code.set("missing_objects"),
                 Video.error_message.set(f"stored objects are missing: {', '.join(missing)}"),
                 Video.updated_at.set(now)],
        condition=Video.status == READY))


def restore_ready(video: Video) -> bool:
    """A broken video whose objects came back is ready again."""
    return applied(lambda: video.update(actions=[Video.status.set(READY), Video.error_code.remove(),
                                                 Video.error_message.remove()],
                                        condition=Video.status == BROKEN))


def put_back(video: Video) -> bool:
    """Write a record from a backup, holding its source again unless a newer capture of the link holds it; False
    when the record exists already (restored meanwhile by someone else)."""
    free = video.parent_video_id is None and _holder(video.owner_source) is None
    held = (_source_held(video.owner_source, video.video_id, None),) if free else ()
    return applied(lambda: transact(saves=((video, Video.video_id.does_not_exist()),), updates=held))


def delete_as_read(video_id: str, owner_id: str, *, now: datetime) -> Video:
    """Delete exactly the version read, so the bytes given back are the bytes that record held (stored, and
    reserved by a capture in flight: its worker then finds the reservation gone and gives nothing back). The
    ``video.deleted`` event is saved in the same write."""
    while True:
        video = get_for_owner(video_id, owner_id)
        as_read = (Video.status == video.status) & (Video.bytes_stored == video.bytes_stored) \
            & (Video.bytes_reserved == (video.bytes_reserved or 0))
        saves = (events.deleted(video, now=now),)
        if applied(lambda video=video, as_read=as_read, saves=saves: transact(
                saves=saves, deletes=((video, as_read), *_held_source(video)))):
            return video


# -- answers ----------------------------------------------------------------------------------------------------


def to_dict(video: Video) -> dict:
    """The JSON shape of a video in API answers (field names as yt-dlp names them)."""
    data = to_json_dict(video, hide=("owner_source", "bytes_reserved", "object_sizes", "share_version", "transcript"))
    data.setdefault("renditions", {})
    data.setdefault("thumbnails", {})
    data.setdefault("captions", {})
    return data


def metadata(video: Video) -> dict:
    """What the file is (probe), what the platform said, and which renditions and thumbnails exist."""
    platform_meta = video.platform_meta or {}
    fields = ("video_id", "kind", "status", "title", "platform", "source_url", "duration", "width", "height", "fps",
              "codec", "audio_codec", "average_bitrate", "video_bitrate", "audio_bitrate", "filesize",
              "bytes_stored", "created_at")
    data = {name: value for name, value in to_dict(video).items() if name in fields}
    data.update({name: platform_meta.get(name) for name in PLATFORM_FIELDS})
    data.update(renditions=video.renditions.as_dict(), thumbnails=video.thumbnails.as_dict(),
                platform_metadata=platform_meta)
    return data
