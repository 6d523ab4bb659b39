"""Deep health's warnings about the worker's platform access: pure, from the heartbeat's figures."""

from datetime import UTC, datetime

import pytest

from chalicelib.ops.health import platform_warnings

NOW = datetime(2026, 12, 1, tzinfo=UTC)
FULL = {"yt_dlp": "2026.10.26", "js_runtimes": ["deno 2.9.8"], "impersonate_targets": ["chrome-152:windows-10"]}


@pytest.mark.parametrize("version, max_age, warned", [
    ("2026.10.26", 60, False),  # 36 days old
    ("2026.10.26", 30, True),
    ("2026.09.01.233415", 60, True),  # a nightly: its date counts
    ("unknown", 60, False),
])
def test_an_old_yt_dlp_is_warned_about(version, max_age, warned):
    warnings = platform_warnings(FULL | {"yt_dlp": version}, NOW, max_age_days=max_age)
    assert bool(warnings) is warned


def test_a_worker_without_js_runtime_or_impersonation_is_warned_about():
    warnings = platform_warnings(FULL | {"js_runtimes": [], "impersonate_targets": []}, NOW, max_age_days=60)
    assert [w.split(":")[0] for w in warnings] == ["no JavaScript runtime for yt-dlp", "no browser impersonation"]
