"""The local API server: the environment `make run` sets wins over .chalice/config.json's stage variables."""

from __future__ import annotations

import os
import threading

import requests

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


def test_a_path_deeper_than_the_catch_all_routes_is_not_found_without_repeating_the_callers_key():
    # GIVEN make run's API server
    app_class = app.__class__
    server = api_server.create_server("127.0.0.1", 0)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        # WHEN a path deeper than the catch-all routes is asked for, with an API key
        url = f"http://127.0.0.1:{server.server.server_port}/" + "/".join("abcdefghijk")
        response = requests.get(url, headers={"Authorization": "Bearer prsnl_secret"}, timeout=30)
        # THEN it is not found, in the API's error shape (as API Gateway's gateway response answers it in AWS)
        assert response.status_code == 404
        assert response.json()["error"]["code"] == "not_found"
        assert "prsnl_secret" not in response.text
    finally:
        server.shutdown()
        server.server.server_close()
        app.__class__ = app_class
