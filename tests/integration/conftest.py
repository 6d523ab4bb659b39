"""Fixtures of the API tests: a 480p clip captured through the API and made ready by the real worker."""

from __future__ import annotations

import pytest

from tests.api_calls import captured_ready


@pytest.fixture
def ready_clip(client, user, drain, clip480_url, settings_env) -> dict:
    settings_env(PRSNL_ALLOW_LOOPBACK_URLS="true")
    return captured_ready(client, user, drain, clip480_url, title="Four-eighty")
