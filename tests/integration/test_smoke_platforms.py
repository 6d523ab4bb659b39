"""``make smoke-platforms`` without internet: it says that it skipped and exits 0, or fails when PRSNL_SMOKE=1.

With internet it captures for real (the canary's links), which ``make test`` never does: then this test skips.
The capture path itself is the canary's (tests/integration/test_canary.py).
"""

from __future__ import annotations

import os
import subprocess
import sys
from urllib.parse import urlsplit

import pytest

from chalicelib.local import smoke
from chalicelib.ops import canary

HOSTS = sorted({urlsplit(url).hostname for url in canary.LINKS.values()})


@pytest.fixture(scope="module", autouse=True)
def offline():
    if smoke.offline_reason(HOSTS) is None:
        pytest.skip("the platforms can be reached from here: `make smoke-platforms` would capture for real")


def run_smoke(**env) -> subprocess.CompletedProcess:
    environment = {k: v for k, v in os.environ.items() if k != "PRSNL_SMOKE"} | env
    return subprocess.run([sys.executable, "-m", "chalicelib.local.smoke"], capture_output=True, text=True,
                          env=environment, timeout=120)


def test_without_internet_the_smoke_says_it_skipped_and_succeeds():
    result = run_smoke()
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("smoke-platforms: skipped: no internet (")


def test_without_internet_a_required_smoke_fails():
    result = run_smoke(PRSNL_SMOKE="1")
    assert result.returncode == 1
    assert result.stdout.startswith("smoke-platforms: FAILED: no internet (")
