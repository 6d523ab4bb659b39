"""The delete use case (API, and a capture's own cleanup): the record, its jobs, its objects and its bytes."""

from __future__ import annotations

from typing import TYPE_CHECKING

from chalicelib.errors import NotFoundError
from chalicelib.records import jobs, quotas, videos

if TYPE_CHECKING:
    from chalicelib.wiring import Services


def delete(video_id: str, *, owner_id: str, services: Services) -> None:
    """Remove the record first (a running job then fails its own final write and cleans up after itself),
    then stop its jobs, remove its objects and give its stored bytes back to the quota."""
    now = services.clock.now()
    video = videos.delete_as_read(video_id, owner_id, now=now)
    for job_id in videos.job_ids(video):
        _cancel_job(job_id, now)
    services.storage.delete(videos.object_keys(video))  # work files stay in /tmp and temp/ (expired by lifecycle)
    sizes = video.object_sizes.as_dict()
    quotas.release(owner_id, reserved=video.bytes_reserved or 0, used=sum(sizes.values()),
                   videos=1 if video.status in videos.COUNTED else 0, usage=quotas.Usage.of(video, sizes))


def _cancel_job(job_id: str, now) -> None:
    try:
        job = jobs.get(job_id)
    except NotFoundError:
        return
    jobs.cancel(job, now=now)
    quotas.give_back_held(job, None, now=now)  # a rendition's reservation (a capture's went with the record)
    jobs.discard(job)
