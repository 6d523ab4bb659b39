"""Download times and success rates per platform without CloudWatch and without scanning a table.

When a capture ends, the pipeline ADDs to one item per (hour, platform) of the ops table: its outcome
(``succeeded``/``failed``/``retried``), one counter per error code (``err_<code>``) and a fixed histogram
of download and processing seconds whose attribute names carry the bucket bound (``dl_le_30`` counts the
downloads that took at most 30 s). The summary reads the last week's items with one query (at most
168 items per platform) and takes p50/p95 from the histograms: the bound of the bucket holding the rank.
"""

from __future__ import annotations

import math
from collections import Counter, defaultdict
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

from chalicelib import aws
from chalicelib.observability import logger

if TYPE_CHECKING:
    from chalicelib.wiring import Services

ROLLUP = "rollup"
BOUNDS = (0.5, 1, 2, 3, 5, 7.5, 10, 15, 20, 30, 45, 60, 90, 120, 180, 300, 450, 600, 900, 1800, 3600, 14400)
HISTOGRAMS = {"download_seconds": "dl", "processing_seconds": "proc"}
WINDOWS = {"hour": 1, "day": 24, "week": 168}  # hourly buckets, the current one included
KEEP = timedelta(days=8)  # items expire (TTL) once no window reads them
TOP_ERRORS = 5
ALL = "all"


def record_outcome(services: Services, platform: str, *, code: str | None, download_seconds: float | None = None,
                   processing_seconds: float | None = None, at: datetime | None = None) -> None:
    """Count one finished capture: succeeded when ``code`` is None, else failed with that code."""
    counts = {"succeeded": 1} if code is None else {"failed": 1, f"err_{code}": 1}
    for seconds, field in ((download_seconds, "download_seconds"), (processing_seconds, "processing_seconds")):
        if seconds is not None:
            counts[_bucket(HISTOGRAMS[field], seconds)] = 1
    _add(services, platform, counts, at)


def record_retry(services: Services, platform: str, *, at: datetime | None = None) -> None:
    _add(services, platform, {"retried": 1}, at)


def _bucket(prefix: str, seconds: float) -> str:
    bound = next((b for b in BOUNDS if seconds <= b), BOUNDS[-1])
    return f"{prefix}_le_{bound:g}"


def _hour(at: datetime) -> str:
    return at.astimezone(UTC).strftime("%Y-%m-%dT%H")


def _add(services: Services, platform: str, counts: dict[str, int], at: datetime | None) -> None:
    """One atomic ADD. Best effort: a lost count must not fail a job that already finished."""
    at = at or services.clock.now()
    names = {f"#c{i}": name for i, name in enumerate(counts)}
    values = {f":c{i}": {"N": str(count)} for i, count in enumerate(counts.values())}
    try:
        aws.client("dynamodb").update_item(
            TableName=services.settings.ops_table,
            Key={"pk": {"S": ROLLUP}, "sk": {"S": f"{_hour(at)}#{platform}"}},
            UpdateExpression="SET #ttl = :ttl ADD " + ", ".join(f"{n} {n.replace('#', ':')}" for n in names),
            ExpressionAttributeNames={**names, "#ttl": "expires_at"},
            ExpressionAttributeValues={**values, ":ttl": {"N": str(int((at + KEEP).timestamp()))}},
        )
    except Exception:
        logger.exception("job rollup not recorded", extra={"platform": platform, "counts": counts})


def _items_since(table: str, hour: str) -> Iterator[tuple[str, str, Counter]]:
    pages = aws.client("dynamodb").get_paginator("query").paginate(
        TableName=table, KeyConditionExpression="pk = :pk AND sk >= :start",
        ExpressionAttributeValues={":pk": {"S": ROLLUP}, ":start": {"S": hour}})
    for page in pages:
        for item in page["Items"]:
            item_hour, platform = item["sk"]["S"].split("#", 1)
            yield item_hour, platform, Counter({name: int(value["N"]) for name, value in item.items()
                                                if "N" in value and name != "expires_at"})


def summary(services: Services) -> dict:
    """Per window (hour, day, week) and platform (and ``all``): count, success rate, p50/p95, top errors."""
    now = services.clock.now()
    items = list(_items_since(services.settings.ops_table, _hour(now - timedelta(hours=max(WINDOWS.values()) - 1))))
    windows = {}
    for window, hours in WINDOWS.items():
        start = _hour(now - timedelta(hours=hours - 1))
        totals: dict[str, Counter] = defaultdict(Counter)
        for hour, platform, counts in items:
            if hour >= start:
                totals[platform].update(counts)
                totals[ALL].update(counts)
        windows[window] = {platform: figures(counts) for platform, counts in sorted(totals.items())}
    return {"generated_at": now.isoformat(), "windows": windows}


def figures(counts: Counter) -> dict:
    succeeded, failed = counts["succeeded"], counts["failed"]
    finished = succeeded + failed
    errors = Counter({name.removeprefix("err_"): n for name, n in counts.items() if name.startswith("err_")})
    return {
        "count": finished, "succeeded": succeeded, "failed": failed, "retried": counts["retried"],
        "success_rate": round(succeeded / finished, 4) if finished else None,
        **{field: _percentiles(counts, prefix) for field, prefix in HISTOGRAMS.items()},
        "top_errors": [{"code": code, "count": n} for code, n in errors.most_common(TOP_ERRORS)],
    }


def _percentiles(counts: Counter, prefix: str) -> dict:
    histogram = sorted((float(name.rsplit("_le_", 1)[1]), n) for name, n in counts.items()
                       if name.startswith(f"{prefix}_le_"))
    total = sum(n for _, n in histogram)
    return {f"p{p}": _rank_bound(histogram, math.ceil(p / 100 * total)) if total else None for p in (50, 95)}


def _rank_bound(histogram: list[tuple[float, int]], rank: int) -> float:
    seen = 0
    for bound, n in histogram:
        seen += n
        if seen >= rank:
            return bound
    return histogram[-1][0]
