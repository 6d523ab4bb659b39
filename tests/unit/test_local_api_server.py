"""The local API server: the environment `make run` sets wins over .chalice/config.json's stage variables."""

from __future__ import annotations

import os

from app import app
from chalicelib.config import load_settings
from chalicelib.local import api_server


def test_environment_wins_over_chalice_config(monkeypatch):
    monkeypatch.setenv("PRSNL_ALLOW_LOOPBACK_URLS", "false")  # the local stage of config.json says "true"
    monkeypatch.setenv("PRSNL_STAGE", "dev")  # ... and "local"
    monkeypatch.delenv("POWERTOOLS_SERVICE_NAME", raising=False)
    app_class = app.__class__
    server = api_server.create_server("127.0.0.1", 0)
    try:
        settings = load_settings()
        assert (settings.stage, settings.allow_loopback_urls) == ("dev", False)
        assert os.environ["POWERTOOLS_SERVICE_NAME"] == "prsnl-api"  # what the environment leaves open, config sets
        assert server.server.request_queue_size == api_server.BACKLOG
    finally:
        server.server.server_close()
        app.__class__ = app_class  # the server's subclass swap, undone for the other tests of this process
