"""Outbox records: the only module that writes them.

An event is made here as an unsaved record that the change it reports saves in its own transaction (the
video's commit, failure or delete), so an event exists exactly when its change happened. Delivery
(chalicelib.events.delivery) then claims due events one lease at a time, records each destination that took
one, and reschedules or gives up the rest. The event id never changes: receivers de-duplicate by it.
"""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta

from chalicelib.records.models import Event, Video, applied

READY, FAILED, DELETED, RENDITION_READY = "video.ready", "video.failed", "video.deleted", "video.rendition_ready"
TYPES = (READY, FAILED, DELETED, RENDITION_READY)
PENDING = "pending"
KEEP = timedelta(days=7)  # delivered or given up, an event stays this long (its id, for anyone asking)
# what a ready event tells of the stored video (the receiver reads the rest through the API)
READY_FIELDS = ("kind", "title", "duration", "width", "height", "bytes_stored", "parent_video_id", "item_index")


def new(event_type: str, video: Video, *, now: datetime, data: dict | None = None) -> Event:
    """An event about ``video``, due now; saved by the caller with the change it reports."""
    body = {"video_id": video.video_id, "owner_id": video.owner_id, "platform": video.platform,
            "source_url": video.source_url, **(data or {})}
    return Event(f"evt_{uuid.uuid4().hex}", type=event_type, owner_id=video.owner_id, video_id=video.video_id,
                 occurred_at=now, data=body, pending=PENDING, due_at=now, expires_at=now + KEEP)


def ready(video: Video, fields: dict, *, now: datetime) -> Event:
    """A stored capture (or a post's further item), from the fields its commit writes."""
    values = {**{name: getattr(video, name, None) for name in READY_FIELDS}, **fields}
    return new(READY, video, now=now, data={name: values.get(name) for name in READY_FIELDS
                                            if values.get(name) is not None})


def failed(video: Video, *, now: datetime, code: str, message: str) -> Event:
    return new(FAILED, video, now=now, data={"code": code, "message": message})


def deleted(video: Video, *, now: datetime) -> Event:
    return new(DELETED, video, now=now)


def rendition_ready(video: Video, quality: str, *, key: str, size: int, now: datetime) -> Event:
    return new(RENDITION_READY, video, now=now, data={"quality": quality, "key": key, "size": size})


def payload(event: Event) -> dict:
    """What every destination receives (the Standard Webhooks payload shape: type, timestamp, data)."""
    return {"id": event.event_id, "type": event.type, "timestamp": event.occurred_at.isoformat(),
            "data": event.data}


# -- delivery ---------------------------------------------------------------------------------------------------


def due(now: datetime, *, limit: int) -> list[Event]:
    """Events still to deliver whose time has come, oldest first (read from the sparse index: claim each)."""
    return list(Event.by_due.query(PENDING, Event.due_at <= now, limit=limit))


def claim(event: Event, *, now: datetime, lease_until: datetime) -> bool:
    """Take the event for one delivery attempt until ``lease_until``: only while it is still due as read, so of
    two deliverers exactly one sends it. False when another took it or it was delivered meanwhile."""
    return applied(lambda: event.update(
        actions=[Event.due_at.set(lease_until), Event.attempts.add(1)],
        condition=(Event.pending == PENDING) & (Event.due_at == event.due_at) & (Event.due_at <= now)))


def took(event: Event, destination: str) -> bool:
    """A destination took the event: a later attempt skips it. False when the claim was lost meanwhile."""
    return _while_claimed(event, [Event.delivered.set(Event.delivered.append([destination]))])


def finished(event: Event) -> bool:
    """Every destination took it: out of the outbox's queue."""
    return _while_claimed(event, [Event.pending.remove(), Event.due_at.remove(), Event.last_error.remove()])


def retry_at(event: Event, when: datetime, *, error: str) -> bool:
    return _while_claimed(event, [Event.due_at.set(when), Event.last_error.set(error)])


def give_up(event: Event, *, error: str) -> bool:
    """Too many attempts: out of the queue, kept with its last error until it expires."""
    return _while_claimed(event, [Event.pending.remove(), Event.due_at.remove(), Event.last_error.set(error)])


def _while_claimed(event: Event, actions: list) -> bool:
    """Write only while this attempt's claim holds (a slower attempt whose lease ran out writes nothing)."""
    return applied(lambda: event.update(actions=actions, condition=Event.due_at == event.due_at))


def get(event_id: str) -> Event | None:
    try:
        return Event.get(event_id, consistent_read=True)
    except Event.DoesNotExist:
        return None
