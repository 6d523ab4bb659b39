"""Peak Python memory of a maintenance sweep as the bucket grows (tracemalloc), against a moto server process.

    .venv/bin/python bench/sweep.py [N ...]      (default: 1000 10000 objects)

Each size: a fresh moto state, the bootstrap, N objects under videos/ and thumbnails/ (a quarter of them
orphans, the rest the file and three thumbnails of ready videos); then the peak of merely holding the
bucket listing and the videos table, and the peak of one applied sweep run "two hours later" (past the
grace period). Moto runs in another process, and one sweep runs before any figure so that clients,
service models and connections load outside the traced windows. A sweep that pages stays flat as N
grows; holding everything grows with N.
"""

from __future__ import annotations

import gc
import os
import subprocess
import sys
import time
import tracemalloc
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import requests

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from chalicelib import aws, wiring
from chalicelib.config import get_settings
from chalicelib.local import stack
from chalicelib.local.bootstrap import bootstrap
from chalicelib.ops import maintenance
from chalicelib.records import videos
from chalicelib.records.models import User, Video
from chalicelib.storage import layout

CREATED = datetime(2026, 1, 5, tzinfo=UTC)
OWNER = "bench"
OBJECTS_PER_VIDEO = 4  # the file and three thumbnails
MiB = 1024 * 1024


class LaterClock(wiring.SystemClock):
    def now(self) -> datetime:
        return super().now() + timedelta(hours=2)


def fresh_state(endpoint: str) -> None:
    requests.post(f"{endpoint}/moto-api/reset", timeout=10).raise_for_status()
    wiring.reset()
    bootstrap(get_settings())


def seed(n_objects: int) -> int:
    """N objects: three quarters belong to ready videos, one quarter to no record; returns the orphans."""
    settings = get_settings()
    videos_count = (n_objects * 3 // 4) // OBJECTS_PER_VIDEO
    keys = []
    with Video.batch_write() as batch:
        for _ in range(videos_count):
            video_id = str(uuid.uuid4())
            sizes = {layout.video_key(video_id, CREATED): 10}
            sizes.update({layout.thumbnail_key(video_id, CREATED, size): 10 for size in ("small", "medium", "large")})
            batch.save(Video(video_id, owner_id=OWNER, created_at=CREATED, updated_at=CREATED, status=videos.READY,
                             source_url="https://example.com/v.mp4", canonical_url="https://example.com/v.mp4",
                             owner_source=f"{OWNER}#direct:{video_id}", platform="direct", object_sizes=sizes,
                             file_key=next(iter(sizes)), bytes_stored=sum(sizes.values())))
            keys += sizes
    orphans = n_objects - len(keys)
    keys += [layout.video_key(str(uuid.uuid4()), CREATED) for _ in range(orphans)]
    User(OWNER, name="Bench", quota_bytes=10**12, bytes_used=10 * videos_count * OBJECTS_PER_VIDEO,
         bytes_available=10**12 - 10 * videos_count * OBJECTS_PER_VIDEO, video_count=videos_count,
         created_at=CREATED).save()
    s3 = aws.client("s3")
    with ThreadPoolExecutor(16) as pool:
        list(pool.map(lambda key: s3.put_object(Bucket=settings.bucket, Key=key, Body=b"x" * 10), keys))
    return orphans


def traced_peak(work) -> tuple[object, int]:
    """What ``work()`` returns, and the peak of Python memory it allocated on top of what was there."""
    gc.collect()  # every window starts with no garbage pending, whatever ran before
    tracemalloc.start()
    try:
        result = work()
        return result, tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def hold_everything() -> int:
    """What a sweep that loaded the whole bucket listing and the videos table would keep; how many it held."""
    storage = wiring.services().storage
    held = [obj for prefix in layout.MEDIA_PREFIXES for obj in storage.list(prefix)] + list(Video.scan())
    return len(held)


def sweep_after_grace() -> maintenance.Report:
    """An applied sweep two hours later."""
    wiring.override(clock=LaterClock())
    return maintenance.run(services=wiring.services(), apply=True)


@dataclass(frozen=True)
class Measure:
    objects: int
    orphans: int
    held: int  # objects listed plus video records scanned
    holding_peak: int
    report: maintenance.Report
    sweep_peak: int
    seconds: float


def warm_up(endpoint: str) -> None:
    """One small sweep that takes every path (list, batch get, delete, head, scan, query), untraced."""
    fresh_state(endpoint)
    seed(16)
    sweep_after_grace()


def measure(n_objects: int, endpoint: str) -> Measure:
    """Both peaks at N objects, in a process that has swept before (``warm_up``)."""
    fresh_state(endpoint)
    orphans = seed(n_objects)
    held, holding_peak = traced_peak(hold_everything)
    started = time.perf_counter()
    report, sweep_peak = traced_peak(sweep_after_grace)
    return Measure(n_objects, orphans, held, holding_peak, report, sweep_peak, time.perf_counter() - started)


def start_moto_process() -> tuple[subprocess.Popen, str]:
    """A moto server in its own process (its memory stays out of the figure); the caller points AWS_ENDPOINT_URL."""
    port = stack.free_port()
    return stack.start_moto(port), f"http://127.0.0.1:{port}"


def main(sizes: list[int]) -> None:
    process, endpoint = start_moto_process()
    os.environ.update(stack.local_environment(int(endpoint.rsplit(":", 1)[1])))
    try:
        warm_up(endpoint)
        for n in sizes:
            result = measure(n, endpoint)
            print(f"{result.objects:>7} objects  {result.report.orphan_objects.fixed:>6}/{result.orphans} orphans "
                  f"deleted  sweep peak {result.sweep_peak / MiB:6.2f} MiB  holding everything "
                  f"{result.holding_peak / MiB:6.2f} MiB  sweep {result.seconds:5.1f} s", flush=True)
    finally:
        process.terminate()
        process.wait(timeout=10)


if __name__ == "__main__":
    main([int(n) for n in sys.argv[1:]] or [1000, 10000])
