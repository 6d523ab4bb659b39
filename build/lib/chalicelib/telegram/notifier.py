"""Job progress told to the chat the capture came from: one reply, edited as the job moves.

The bot puts ``{"telegram": {"chat_id", "message_id", "label"}}`` in the job's params when it
queues a capture; jobs without it are nobody's business here. Progress edits are throttled per
message (Telegram allows about one edit a second per chat, and each edit costs a round trip);
the final state is always sent. A Telegram failure never fails a job: it is logged and dropped.
"""

from __future__ import annotations

import time

from chalicelib.config import Settings
from chalicelib.errors import PrsnlError
from chalicelib.records.models import Job, Video
from chalicelib.telegram import bot as telegram_bot
from chalicelib.telegram import replies


def configured(settings: Settings) -> bool:
    return bool(settings.telegram_token or settings.telegram_token_secret)


class NullNotifier:
    """No bot configured: jobs run the same, nobody is told."""

    def progress(self, job: Job, state: dict) -> None:
        pass

    def ready(self, job: Job, video: Video, thumbnail=None) -> None:
        pass

    def failed(self, job: Job, error: PrsnlError) -> None:
        pass


class TelegramNotifier:
    def __init__(self, settings: Settings, clock=time.monotonic):
        self.settings = settings
        self._clock = clock
        self._last: dict[tuple[int, int], tuple[float, str]] = {}  # (chat, message) -> (when, text) of last edit

    def progress(self, job: Job, state: dict) -> None:
        target = _target(job)
        if target is None:
            return
        text = replies.progress(target["label"], state)
        last_when, last_text = self._last.get(_key(target), (float("-inf"), None))
        if text == last_text or self._clock() - last_when < self.settings.telegram_edit_interval_seconds:
            return
        self._send(target, text)

    def ready(self, job: Job, video: Video, thumbnail=None) -> None:
        target = _target(job)
        if target is None:
            return
        caption = video.title or target["label"]
        photo = thumbnail.read_bytes() if thumbnail is not None else None
        self._send(target, replies.ready(target["label"], video, self.settings.watch_url), photo=photo,
                   caption=caption, final=True)

    def failed(self, job: Job, error: PrsnlError) -> None:
        target = _target(job)
        if target is not None:
            self._send(target, replies.failed(target["label"], error.code, error.message), final=True)

    def _send(self, target: dict, text: str, *, photo: bytes | None = None, caption: str | None = None,
              final: bool = False) -> None:
        """Edit the reply (and send the thumbnail under it); log what Telegram refuses."""

        async def work(bot) -> None:
            await bot.edit_message_text(text, chat_id=target["chat_id"], message_id=target["message_id"],
                                        disable_web_page_preview=True)
            if photo is not None:
                await bot.send_photo(target["chat_id"], photo, caption=caption,
                                     reply_to_message_id=target["message_id"])

        if final:
            self._last.pop(_key(target), None)
        else:
            self._last[_key(target)] = (self._clock(), text)
        try:
            telegram_bot.run(self.settings, work)
        except Exception as exc:  # the chat is a courtesy: a Telegram outage must not fail the job
            telegram_bot.log_failure("telegram reply not sent", exc, chat_id=target["chat_id"])


def _target(job: Job) -> dict | None:
    target = (job.params or {}).get("telegram")
    return target if target and target.get("message_id") else None


def _key(target: dict) -> tuple[int, int]:
    return target["chat_id"], target["message_id"]
