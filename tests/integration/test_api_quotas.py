"""Quotas under concurrency: 20 captures processed at once by the real worker handler, near the quota,
never store more than it allows and leave every counter exact."""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor

import pytest

from chalicelib import wiring
from chalicelib.local import worker_loop
from chalicelib.records.models import Job, User, Video
from tests import media as test_media
from tests.conftest import seed_user

CAPTURES = 20
FITS = 5


@pytest.fixture(autouse=True)
def loopback_allowed(settings_env):
    settings_env(PRSNL_ALLOW_LOOPBACK_URLS="true")


@pytest.fixture(scope="module")
def tiny_clip(media_dir) -> str:
    """Twenty jobs run at once on two cores: the clip is as small as a real video gets."""
    path = media_dir / "tiny.mp4"
    if not path.exists():
        test_media.make_clip(path, seconds=0.5, width=160, height=120)
    return path.name


def stored_size(client, drain, url: str) -> int:
    """What one capture of the clip takes in storage (file and thumbnails), measured on another user."""
    probe = seed_user("probe")
    body = client.http.post("/api/capture", headers=probe.headers, body=json.dumps({"url": url})).json_body
    assert drain() == 1
    return Video.get(body["video_id"]).bytes_stored


def run_concurrently(messages: list[dict]) -> None:
    """Every message in its own batch, all at once: as many Lambda instances as captures."""
    queue = wiring.services().queue
    arn = worker_loop.queue_arn(queue)
    with ThreadPoolExecutor(max_workers=len(messages)) as pool:
        list(pool.map(lambda message: worker_loop.run_batch(queue, arn, [message]), messages))


def receive_all(expected: int) -> list[dict]:
    queue, messages = wiring.services().queue, []
    while len(messages) < expected:
        batch = queue.receive(max_messages=10, wait_seconds=0)
        assert batch, f"only {len(messages)} of {expected} messages on the queue"
        messages += batch
    return messages


def test_concurrent_captures_near_the_quota_never_exceed_it(client, user, drain, media_server, tiny_clip):
    # GIVEN a quota that holds five and a half copies of the clip
    size = stored_size(client, drain, media_server.url("files", f"{tiny_clip}?probe=1"))
    quota = FITS * size + size // 2
    from chalicelib.records import users

    users.set_quota(user.user_id, quota)
    # WHEN twenty different links to it are captured and the worker runs them all at the same time
    for n in range(CAPTURES):
        response = client.http.post("/api/capture", headers=user.headers,
                                    body=json.dumps({"url": media_server.url("files", f"{tiny_clip}?n={n}")}))
        assert response.status_code == 202
    run_concurrently(receive_all(CAPTURES))
    # THEN at most what fits is stored (jobs holding reservations may crowd out one another, never overshoot),
    # the rest failed with a clear reason, and nothing else is held
    mine = [video for video in Video.scan() if video.owner_id == user.user_id]
    ready = [video for video in mine if video.status == "ready"]
    failed = [video for video in mine if video.status == "failed"]
    assert 1 <= len(ready) <= FITS and len(failed) == CAPTURES - len(ready)
    assert {video.error_code for video in failed} <= {"quota_exceeded", "too_large"}
    assert {job.status for job in Job.scan() if job.owner_id == user.user_id} == {"succeeded", "failed"}
    owner = User.get(user.user_id)
    assert owner.bytes_used == sum(video.bytes_stored for video in ready) == len(ready) * size <= quota
    assert owner.bytes_reserved == 0 and owner.bytes_available == quota - owner.bytes_used
    assert owner.video_count == len(ready)
    stats = client.http.get("/api/storage/stats", headers=user.headers).json_body
    assert stats["by_platform"]["direct"] == {"bytes": owner.bytes_used, "count": len(ready)}
