"""The sweep pages through the bucket and the tables: as the bucket grows, its peak Python memory (tracemalloc;
moto runs in another process) stays where it was, while merely holding the listing and the table grows with it.
Both sizes fill every page the sweep reads, so any growth of the sweep's peak is growth with the bucket.
bench/sweep.py measures the same up to 10,000 objects."""

from __future__ import annotations

import pytest

from bench import sweep as bench
from tests.conftest import reset_caches

SMALL, LARGE = 600, 1500  # 600 objects: 112 ready videos, more than one page (maintenance.PAGE) of each kind
MiB = 1024 * 1024


@pytest.fixture
def moto_process(monkeypatch):
    process, endpoint = bench.start_moto_process()
    monkeypatch.setenv("AWS_ENDPOINT_URL", endpoint)
    reset_caches()
    yield endpoint
    process.terminate()
    process.wait(timeout=10)


def test_sweep_memory_stays_flat_when_the_bucket_grows(moto_process):
    # GIVEN a process that has swept once (clients, models and connections load outside the traced windows)
    bench.warm_up(moto_process)
    # WHEN the same sweep runs over 600 and then 1,500 objects, a quarter of them orphans
    small, large = (bench.measure(n, moto_process) for n in (SMALL, LARGE))
    # THEN it did the whole job each time
    for run in (small, large):
        assert run.report.orphan_objects.fixed == run.orphans
        assert run.held == run.objects + (run.objects - run.orphans) // bench.OBJECTS_PER_VIDEO
    # AND holding everything grew with the bucket while the sweep's peak stayed within a small fraction of that
    holding_growth = large.holding_peak - small.holding_peak
    sweep_growth = large.sweep_peak - small.sweep_peak
    assert holding_growth > 2 * MiB, (small.holding_peak, large.holding_peak)
    assert sweep_growth < holding_growth / 10, (small.sweep_peak, large.sweep_peak, holding_growth)
    # AND it stays near a page of listings, records and HEAD requests (keeping whole HEAD responses took 3 MiB)
    assert large.sweep_peak < 2.5 * MiB
