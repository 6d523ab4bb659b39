"""The sweep pages through the bucket and the tables: its peak Python memory (tracemalloc; moto runs in
another process) stays a fraction of what merely holding the listing and the table would take.
bench/sweep.py measures the same at 10,000 objects."""

from __future__ import annotations

import pytest

from bench import sweep as bench
from chalicelib import wiring
from chalicelib.maintenance import MEDIA_PREFIXES
from chalicelib.models import Video
from tests.conftest import reset_caches

OBJECTS = 1000
MiB = 1024 * 1024


@pytest.fixture
def moto_process(monkeypatch):
    process, endpoint = bench.start_moto_process()
    monkeypatch.setenv("AWS_ENDPOINT_URL", endpoint)
    reset_caches()
    yield endpoint
    process.terminate()
    process.wait(timeout=10)


def hold_everything() -> int:
    """What a sweep that loaded the whole bucket listing and the videos table would keep."""
    storage = wiring.services().storage
    held = [obj for prefix in MEDIA_PREFIXES for obj in storage.list(prefix)] + list(Video.scan())
    return len(held)


def test_sweep_memory_stays_bounded_when_the_bucket_holds_many_objects(moto_process):
    # GIVEN 1,000 objects, a quarter of them orphans, the rest belonging to 187 ready videos
    bench.fresh_state(moto_process)
    orphans = bench.seed(OBJECTS)
    held, holding_peak = bench.traced_peak(hold_everything)
    assert held == OBJECTS + (OBJECTS - orphans) // bench.OBJECTS_PER_VIDEO
    # WHEN the sweep runs past the grace period
    report, peak = bench.sweep_after_grace()
    # THEN it did the whole job a page at a time, well below holding everything
    assert report.orphan_objects.fixed == orphans
    assert peak < holding_peak / 2, (peak, holding_peak)
    assert peak < 6 * MiB  # bench/sweep.py: about the same at 10,000 objects
