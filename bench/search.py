"""Search benchmark (issue 20): latency of ``GET /api/videos?q=`` at 1,000 videos, one client, on the local stack.

The search checks words case-insensitively in Python over the owner's index, read page by page until the
page is full: "no match" reads all 1,000 videos (the worst case), "many" stops after the first page. The
plain list of the same run is the baseline. Run: ``.venv/bin/python bench/search.py [--requests N]``.
"""

from __future__ import annotations

import argparse
import os
import signal
import statistics
import sys
import tempfile
import time
from pathlib import Path

import requests

sys.path.insert(0, str(Path(__file__).resolve().parent))
from api import VIDEOS, seed, start_stack  # bench/api.py: the stack and its 1,000 videos

QUERIES = {
    "list (baseline)": "limit=20",
    "search, many": "q=VIDEO&limit=20",
    "search, 20 hits": "q=video+42&limit=20",
    "search, 1 hit": "q=video+999&limit=20",
    "search, no match": "q=nothing+matches&limit=20",
    "tag, no match": "tag=none&limit=20",
}


def timed(session: requests.Session, url: str, key: str, n: int) -> tuple[list[float], int]:
    latencies, hits = [], 0
    for _ in range(n):
        started = time.perf_counter()
        response = session.get(url, headers={"Authorization": f"Bearer {key}"}, timeout=60)
        latencies.append(1000 * (time.perf_counter() - started))
        response.raise_for_status()
        hits = len(response.json()["videos"])
    return sorted(latencies), hits


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=20, help="requests per query")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="prsnl-bench-") as state:
        process, stack = start_stack(Path(state))
        try:
            seed(stack, VIDEOS)
            session = requests.Session()
            print(f"{VIDEOS} videos, one client, {args.requests} requests per query\n")
            print(f"{'query':<20}{'hits':>5}{'p50 ms':>9}{'p95 ms':>9}{'x list':>8}")
            baseline = None
            for name, query in QUERIES.items():
                latencies, hits = timed(session, f"{stack['api_url']}/api/videos?{query}", stack["api_key"],
                                        args.requests)
                p50 = statistics.median(latencies)
                baseline = baseline or p50
                print(f"{name:<20}{hits:>5}{p50:>9.1f}{latencies[int(0.95 * (len(latencies) - 1))]:>9.1f}"
                      f"{p50 / baseline:>8.1f}", flush=True)
        finally:
            os.killpg(process.pid, signal.SIGINT)
            process.wait(timeout=30)
    return 0


if __name__ == "__main__":
    sys.exit(main())
