"""`make bot` end to end: the polling bot as its own process (``python -m chalicelib.cli bot``) against
`make run`'s stack and a fake Bot API; a link sent to it is queued and the stack's worker makes it ready."""

from __future__ import annotations

import os
import subprocess
import sys
import time

import pytest

from chalicelib import wiring
from chalicelib.records.models import Video
from tests.e2e.conftest import ROOT
from tests.fake_telegram import TOKEN, FakeBotApi, text_update

pytestmark = pytest.mark.e2e
TELEGRAM_USER = 4242


@pytest.fixture
def bot_process(stack_aws_env, tmp_path):
    telegram = FakeBotApi().start()
    env = {k: v for k, v in os.environ.items() if not k.startswith("PRSNL_")}
    env.update(PRSNL_TELEGRAM_TOKEN=TOKEN, PRSNL_TELEGRAM_API_URL=telegram.url,
               PRSNL_TELEGRAM_ALLOWED_USERS=str(TELEGRAM_USER), PRSNL_STAGE="local",
               PRSNL_ALLOW_LOOPBACK_URLS="true", PYTHONUNBUFFERED="1")
    log = (tmp_path / "bot.log").open("w")
    with log, subprocess.Popen([sys.executable, "-m", "chalicelib.cli", "bot", "--poll-seconds", "1"], cwd=ROOT,
                               env=env, stdout=log, stderr=subprocess.STDOUT) as process:
        yield telegram, process
        process.terminate()
    telegram.stop()


def wait_for_ready(owner_id: str, timeout: float = 60) -> Video:
    wiring.services()  # binds the models to the stack's tables
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = [v for v in Video.scan() if v.owner_id == owner_id and v.status in ("ready", "failed")]
        if found:
            return found[0]
        time.sleep(0.3)
    raise AssertionError(f"no finished video of {owner_id} within {timeout} s")


def test_polling_bot_process_captures_a_link_into_the_stack(bot_process, local_stack):
    telegram, process = bot_process
    link = local_stack["samples"][0]
    # GIVEN the bot process polls (it removed the webhook first)
    telegram.wait_for(lambda: telegram.calls_of("deleteWebhook"), timeout=30)
    # WHEN a whitelisted user sends a link
    telegram.push_update(text_update(1, TELEGRAM_USER, f"keep {link}"))
    # THEN the bot answers "queued" with the link, and the stack's worker makes the video ready
    [reply] = telegram.wait_for(lambda: telegram.calls_of("sendMessage"), timeout=30)
    assert reply["text"].startswith("⏳ Queued") and link in reply["text"]
    video = wait_for_ready(f"telegram-{TELEGRAM_USER}")
    assert video.status == "ready" and video.source == "telegram" and video.file_key.endswith(".mp4")
    assert process.poll() is None
