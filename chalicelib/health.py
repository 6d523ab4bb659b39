"""Health checks of the services the system cannot work without."""

from __future__ import annotations

import time

from chalicelib import wiring
from chalicelib.models import User


def _timed(check) -> dict:
    started = time.perf_counter()
    try:
        check()
    except Exception as exc:
        return {"ok": False, "error": type(exc).__name__}
    return {"ok": True, "ms": round(1000 * (time.perf_counter() - started), 1)}


def check() -> dict:
    services = wiring.services()
    parts = {
        "s3": _timed(services.storage.ping),
        "dynamodb": _timed(lambda: User.describe_table()),
        "sqs": _timed(services.queue.depth),
    }
    return {"healthy": all(p["ok"] for p in parts.values()), "stage": services.settings.stage, "checks": parts}
