"""Settings: defaults per stage, overrides from the environment, and every variable documented."""

from __future__ import annotations

import os
import re
from pathlib import Path

from chalicelib.config import load_settings

ROOT = Path(__file__).resolve().parents[2]


def test_loopback_allowed_only_on_local_stage_by_default(monkeypatch):
    assert load_settings().allow_loopback_urls is True
    monkeypatch.delenv("PRSNL_STAGE")
    assert load_settings().allow_loopback_urls is False  # an image started without its environment fails closed
    monkeypatch.setenv("PRSNL_STAGE", "local")
    monkeypatch.setenv("PRSNL_STAGE", "prod")
    prod = load_settings()
    assert prod.allow_loopback_urls is False
    assert prod.bucket == "prsnl-prod-media" and prod.jobs_dlq == "prsnl-prod-jobs-dlq"


def test_environment_overrides_defaults(monkeypatch):
    monkeypatch.setenv("PRSNL_MAX_VIDEO_BYTES", "1234")
    monkeypatch.setenv("PRSNL_ALLOW_LOOPBACK_URLS", "no")
    monkeypatch.setenv("PRSNL_WORKER_CONCURRENCY", "7")
    settings = load_settings()
    assert (settings.max_video_bytes, settings.allow_loopback_urls, settings.worker_concurrency) == (1234, False, 7)


def test_step_slots_default_to_ten_downloads_and_the_cores_when_unset(monkeypatch):
    defaults = load_settings()
    assert (defaults.worker_concurrency, defaults.download_concurrency, defaults.cpu_concurrency) == \
        (10, 10, os.cpu_count())
    monkeypatch.setenv("PRSNL_DOWNLOAD_CONCURRENCY", "3")
    monkeypatch.setenv("PRSNL_CPU_CONCURRENCY", "1")
    assert (load_settings().download_concurrency, load_settings().cpu_concurrency) == (3, 1)


def test_every_setting_is_documented_in_readme():
    sources = "\n".join(p.read_text() for p in (ROOT / "chalicelib").rglob("*.py"))
    names = set(re.findall(r'"(PRSNL_[A-Z0-9_]+)"', sources))
    readme = (ROOT / "README.md").read_text()
    assert names and sorted(n for n in names if f"`{n}`" not in readme) == []
