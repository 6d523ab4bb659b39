"""Polling mode (``make bot``) with the same handlers as the webhook, and the notifier's edit throttling."""

from __future__ import annotations

import threading

import pytest

from chalicelib import wiring
from chalicelib.errors import PermanentJobError
from chalicelib.records.models import Job
from chalicelib.telegram import bot as telegram_bot
from chalicelib.telegram import polling
from chalicelib.telegram.notifier import TelegramNotifier
from tests.conftest import TELEGRAM_USER
from tests.fake_telegram import text_update


@pytest.fixture
def bot_polling(mocked_aws, telegram, settings_env):
    """The polling loop in a thread, as ``make bot`` runs it, stopped at the end of the test."""
    settings_env(PRSNL_ALLOW_LOOPBACK_URLS="true")
    stop = threading.Event()
    thread = threading.Thread(target=polling.run, args=(wiring.services(),), kwargs={"stop": stop, "timeout": 1},
                              daemon=True)
    thread.start()
    yield telegram
    stop.set()
    thread.join(timeout=10)
    assert not thread.is_alive()


def test_polling_mode_handles_a_link_end_to_end(bot_polling, drain, media_server):
    telegram = bot_polling
    link = media_server.url("files", "clip.mp4")
    # GIVEN polling mode removed any webhook, WHEN Telegram holds an update with a link
    telegram.wait_for(lambda: telegram.calls_of("deleteWebhook"))
    telegram.push_update(text_update(41, TELEGRAM_USER, f"look: {link}"))
    # THEN once handled, the update is confirmed (the next getUpdates asks from the following id)
    telegram.wait_for(lambda: any(c.get("offset") == 42 for c in telegram.calls_of("getUpdates")))
    # AND the bot replied "queued" once, and the worker takes it to the final edit holding the link
    assert len(telegram.calls_of("sendMessage")) == 1
    assert drain() == 1
    final = telegram.texts(TELEGRAM_USER)[0]
    assert final.startswith("✅ Saved") and link in final


def job_with_reply(telegram, services) -> Job:
    """A job whose capture came from the bot: a reply to edit exists in the chat."""
    reply = telegram_bot.run(services.settings, lambda bot: bot.send_message(TELEGRAM_USER, "⏳ Queued…\nlink"))
    return Job("job-1", params={"telegram": {"chat_id": TELEGRAM_USER, "message_id": reply.message_id,
                                             "label": "link"}})


def test_progress_edits_are_throttled_and_the_final_one_always_sent(mocked_aws, telegram, settings_env):
    settings_env(PRSNL_TELEGRAM_EDIT_INTERVAL_SECONDS="3")
    services = wiring.services()
    now = [100.0]
    notifier = TelegramNotifier(services.settings, clock=lambda: now[0])
    job = job_with_reply(telegram, services)
    # WHEN progress comes every half second for two seconds, then three seconds later
    for step in range(5):
        notifier.progress(job, {"stage": "downloading", "percent": 10 * step})
        now[0] += 0.5
    now[0] += 3
    notifier.progress(job, {"stage": "processing", "percent": 0})
    notifier.failed(job, PermanentJobError("too big", code="too_large"))
    # THEN one edit per 3 s window went out, and the final state right after the last one
    edits = [e["text"] for e in telegram.calls_of("editMessageText")]
    assert edits == ["⬇️ Downloading 0%…\nlink", "⚙️ Processing 0%…\nlink",
                     "❌ Not saved: it is larger than the size limit.\nlink"]


def test_jobs_not_from_the_bot_tell_nobody(mocked_aws, telegram):
    notifier = TelegramNotifier(wiring.services().settings)
    notifier.progress(Job("job-2", params=None), {"stage": "downloading", "percent": 5})
    notifier.failed(Job("job-3", params={"other": 1}), PermanentJobError("x", code="too_large"))
    assert telegram.calls == []


def test_a_telegram_outage_does_not_fail_the_job(mocked_aws, telegram):
    services = wiring.services()
    job = job_with_reply(telegram, services)
    telegram.stop()
    # the reply cannot be edited: logged, and the pipeline goes on
    TelegramNotifier(services.settings).failed(job, PermanentJobError("x", code="too_large"))
    telegram.start()


def test_set_webhook_command_registers_the_url_with_its_secret(telegram):
    from chalicelib.cli import main
    from tests.conftest import WEBHOOK_SECRET

    assert main(["set-webhook", "https://api.example.com/telegram/webhook"]) == 0
    assert telegram.webhook == {"url": "https://api.example.com/telegram/webhook", "secret_token": WEBHOOK_SECRET,
                                "allowed_updates": ["message", "callback_query"]}


def test_link_telegram_command_makes_the_bot_save_into_that_user(mocked_aws, telegram, user):
    from chalicelib.cli import main
    from chalicelib.telegram import accounts

    assert main(["link-telegram", user.user_id, str(TELEGRAM_USER)]) == 0
    assert accounts.owner_for(TELEGRAM_USER, "Alice", wiring.services()) == user.user_id
