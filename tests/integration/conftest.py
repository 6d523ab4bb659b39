"""Fixtures of the integration tests: a 480p clip captured through the API and made ready by the real worker, and a
link that starts answering when the test says so."""

from __future__ import annotations

import shutil
import uuid

import pytest

from tests.api_calls import captured_ready


@pytest.fixture
def ready_clip(client, user, drain, clip480_url, settings_env) -> dict:
    settings_env(PRSNL_ALLOW_LOOPBACK_URLS="true")
    return captured_ready(client, user, drain, clip480_url, title="Four-eighty")


@pytest.fixture
def later_link(media_dir, media_server):
    """A link that answers 404 until the test copies the clip to it (``put()``)."""
    name = f"later-{uuid.uuid4().hex}.mp4"
    yield media_server.url("files", name), lambda: shutil.copy(media_dir / "clip.mp4", media_dir / name)
    (media_dir / name).unlink(missing_ok=True)
