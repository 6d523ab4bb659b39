"""The bot's ``/audio <link>`` through the real app's webhook, the real worker handler (real yt-dlp and ffmpeg from the
loopback media server) and the fake Bot API: the sound kept as AAC in M4A and sent into the chat as audio."""

from __future__ import annotations

import pytest

from chalicelib.telegram import replies
from tests.conftest import TELEGRAM_USER
from tests.fake_telegram import text_update
from tests.integration.test_telegram_webhook import post_update, videos_of


@pytest.fixture(autouse=True)
def loopback_allowed(settings_env):
    settings_env(PRSNL_ALLOW_LOOPBACK_URLS="true")


def test_audio_command_keeps_the_sound_and_sends_it_into_the_chat(client, telegram, drain, media_server):
    # GIVEN a whitelisted user asks for the sound of a video link
    link = media_server.url("files", "clip.mp4")
    response = post_update(client, text_update(1, TELEGRAM_USER, f"/audio {link}"))
    assert response.status_code == 200 and response.json_body["handled"] is True
    [reply] = telegram.calls_of("sendMessage")
    assert reply["text"].startswith("⏳ Queued") and link in reply["text"]
    # WHEN the worker runs the job
    assert drain() == 1
    # THEN an audio record holds AAC in M4A under audio/, and the reply ends saved
    [video] = videos_of(TELEGRAM_USER)
    assert (video.status, video.kind, video.audio_codec, video.source) == ("ready", "audio", "aac", "telegram")
    assert video.file_key.startswith("audio/") and video.file_key.endswith(".m4a")
    [final] = telegram.texts(TELEGRAM_USER)[:1]
    assert final.startswith("✅ Saved") and link in final
    # AND the sound itself went into the chat as audio (Telegram's player), not as a video
    [sent] = telegram.calls_of("sendAudio")
    assert len(sent["audio"]) == video.filesize and sent["audio"][4:8] == b"ftyp"
    assert sent["duration"] == round(video.duration)
    assert telegram.calls_of("sendVideo") == []


def test_audio_command_without_a_link_says_how_to_use_it(client, telegram, drain):
    post_update(client, text_update(1, TELEGRAM_USER, "/audio"))
    [reply] = telegram.calls_of("sendMessage")
    assert reply["text"] == replies.AUDIO_NEEDS_LINK
    assert drain() == 0 and videos_of(TELEGRAM_USER) == []


def test_help_names_the_audio_command(client, telegram):
    post_update(client, text_update(1, TELEGRAM_USER, "/help"))
    [reply] = telegram.calls_of("sendMessage")
    assert "/audio <link>" in reply["text"]
