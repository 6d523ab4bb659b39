"""``make smoke-platforms``: the platform canary's captures, for real, through our downloader and pipeline into a
local stack (in-process moto, the real worker handler), one line per platform.

Without internet it says so and exits 0, or 1 when ``PRSNL_SMOKE`` asks for a real run. One attempt per capture
(yt-dlp's own retries still apply), so a line shows what a platform answers now. Dev only.
"""

from __future__ import annotations

import os
import socket
import sys
import tempfile
from urllib.parse import urlsplit

PROBE_PORT = 443
SMOKE_ENV = {"PRSNL_STAGE": "local", "PRSNL_MAX_ATTEMPTS": "1", "PRSNL_RETRY_BACKOFF_SECONDS": "0",
             "PRSNL_ALLOW_LOOPBACK_URLS": "false", "AWS_DEFAULT_REGION": "us-east-1",
             "AWS_ACCESS_KEY_ID": "smoke", "AWS_SECRET_ACCESS_KEY": "smoke"}


def offline_reason(hosts: list[str]) -> str | None:
    """Why the platforms cannot be reached from here (the first host that fails), or None."""
    for host in hosts:
        try:
            socket.create_connection((host, PROBE_PORT), timeout=5).close()
        except OSError as exc:
            return f"{host}: {exc}"
    return None


def main() -> int:
    from chalicelib.config import get_settings
    from chalicelib.ops import canary

    reason = offline_reason(sorted({urlsplit(url).hostname for url in canary.LINKS.values()}))
    if reason:
        required = get_settings().smoke_required
        print(f"smoke-platforms: {'FAILED' if required else 'skipped'}: no internet ({reason})")
        return 1 if required else 0
    outcomes = run()
    for outcome in outcomes:
        print(outcome.line())
    return 0 if outcomes and all(outcome.ok for outcome in outcomes) else 1


def run() -> list:
    """The canary's start, the worker on its queue, its finish: in a throwaway local stack."""
    for name, value in SMOKE_ENV.items():
        os.environ.setdefault(name, value)
    os.environ.pop("AWS_ENDPOINT_URL", None)  # in-process moto, not a server
    os.environ.setdefault("PRSNL_WORK_DIR", tempfile.mkdtemp(prefix="prsnl-smoke-"))
    from moto import mock_aws

    from chalicelib import wiring
    from chalicelib.config import get_settings
    from chalicelib.local import worker_loop
    from chalicelib.local.bootstrap import bootstrap
    from chalicelib.ops import canary

    get_settings.cache_clear()
    with mock_aws():
        bootstrap(get_settings())
        services = wiring.services()
        canary.start(services)
        worker_loop.drain(services.queue)
        return canary.finish(services)


if __name__ == "__main__":
    sys.exit(main())
