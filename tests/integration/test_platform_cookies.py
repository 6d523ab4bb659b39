"""Platform cookies from Secrets Manager (moto): one JSON secret holding each platform's Netscape cookie text,
read once per container; a platform's own ``PRSNL_COOKIES_<PLATFORM>`` setting comes first."""

from __future__ import annotations

import json
import tempfile
from pathlib import Path

import pytest

from chalicelib import aws
from chalicelib.config import get_settings
from chalicelib.platforms import get_platform

SECRET = "prsnl-test-platform-cookies"
YOUTUBE = ".youtube.com\tTRUE\t/\tTRUE\t2000000000\tPREF\tf6=40000000"
TIKTOK = ".tiktok.com\tTRUE\t/\tTRUE\t2000000000\tttwid\tabc"


@pytest.fixture
def cookie_secret(mocked_aws, settings_env, monkeypatch, tmp_path):
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    aws.client("secretsmanager").create_secret(
        Name=SECRET, SecretString=json.dumps({"youtube": YOUTUBE, "tiktok": TIKTOK}))
    settings_env(PRSNL_PLATFORM_COOKIES_SECRET=SECRET)


def cookie_text(platform: str) -> str | None:
    path = get_platform(platform).ydl_options(get_settings()).get("cookiefile")
    return Path(path).read_text() if path else None


def test_cookies_come_from_the_secret_for_each_platform_it_names(cookie_secret):
    assert cookie_text("youtube") == f"# Netscape HTTP Cookie File\n{YOUTUBE}\n"
    assert cookie_text("tiktok") == f"# Netscape HTTP Cookie File\n{TIKTOK}\n"
    assert cookie_text("instagram") is None


def test_platform_setting_comes_before_the_secret(cookie_secret, settings_env):
    own = ".youtube.com\tTRUE\t/\tTRUE\t2000000000\tPREF\tmine"
    settings_env(PRSNL_COOKIES_YOUTUBE=own)
    assert cookie_text("youtube") == f"# Netscape HTTP Cookie File\n{own}\n"


def test_secret_is_read_once_until_reset(cookie_secret):
    # GIVEN cookies read once, then a rotated secret
    assert YOUTUBE in cookie_text("youtube")
    aws.client("secretsmanager").put_secret_value(SecretId=SECRET, SecretString=json.dumps({"youtube": "x"}))
    # THEN the container keeps what it read, until the cache is dropped
    assert YOUTUBE in cookie_text("youtube")
    aws.reset()
    assert cookie_text("youtube").endswith("\nx\n")
