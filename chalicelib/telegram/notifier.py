"""Job progress told to the chat the capture came from: one reply, edited as the job moves.

The bot puts ``{"telegram": {"chat_id", "message_id", "label"}}`` in the job's params when it
queues a capture; jobs without it are nobody's business here. The final message carries the watch
link (it plays without a key) and, within Telegram's upload limit, the video itself. Progress edits are throttled per
message (Telegram allows about one edit a second per chat, and each edit costs a round trip);
the final state is always sent, tried again when Telegram asks to wait. A Telegram failure never fails a job: it
is logged and dropped.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from chalicelib import watch
from chalicelib.config import Settings
from chalicelib.errors import PrsnlError
from chalicelib.records import jobs, videos
from chalicelib.records.models import Job, Video
from chalicelib.telegram import bot as telegram_bot
from chalicelib.telegram import replies


def configured(settings: Settings) -> bool:
    return bool(settings.telegram_token or settings.telegram_token_secret)


class NullNotifier:
    """No bot configured: jobs run the same, nobody is told."""

    def progress(self, job: Job, state: dict) -> None:
        pass

    def ready(self, job: Job, video: Video, thumbnail=None, media=None) -> None:
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

    def ready(self, job: Job, video: Video, thumbnail: Path | None = None, media: Path | None = None) -> None:
        """The final message with the watch link; the video itself into the chat when it fits the upload limit
        (it then plays inline), else the thumbnail and the video's size."""
        target = _target(job)
        if target is None:
            return
        link = watch.public_link(video, settings=self.settings, now=datetime.now(UTC))
        sendable = media is not None and video.kind in (videos.VIDEO, videos.AUDIO)
        fits = sendable and media.stat().st_size <= self.settings.telegram_upload_limit
        text = replies.ready(target["label"], video, link, too_big=sendable and not fits)
        attachment = Attachment(video.title or target["label"], thumbnail, media if fits else None, video)
        self._send(target, text, attachment=attachment, final=True)

    def failed(self, job: Job, error: PrsnlError) -> None:
        """The reason, with a Retry button under a capture's reply (it queues the same video again)."""
        target = _target(job)
        if target is not None:
            markup = telegram_bot.retry_keyboard(job.video_id) if job.kind == jobs.CAPTURE else None
            self._send(target, replies.failed(target["label"], error.code, error.message), final=True, markup=markup)

    def _send(self, target: dict, text: str, *, attachment: Attachment | None = None, final: bool = False,
              markup=None) -> None:
        """Edit the reply (and send the video or its thumbnail under it); log what Telegram refuses. The final state
        is tried again after a flood control or a network error (the next progress edit replaces a lost one, nothing
        replaces the last). An edit without ``markup`` removes any button the reply had."""

        async def work(bot) -> None:
            def edit():
                return bot.edit_message_text(text, chat_id=target["chat_id"], message_id=target["message_id"],
                                             disable_web_page_preview=True, reply_markup=markup)

            await (telegram_bot.patiently(edit) if final else edit())
            if attachment is not None:  # not tried again: an upload whose answer was lost would come twice
                await attachment.send(bot, target["chat_id"], reply_to=target["message_id"])

        if final:
            self._last.pop(_key(target), None)
        else:
            self._last[_key(target)] = (self._clock(), text)
        try:
            telegram_bot.run(self.settings, work)
        except Exception as exc:  # the chat is a courtesy: a Telegram outage must not fail the job
            telegram_bot.log_failure("telegram reply not sent", exc, chat_id=target["chat_id"])


@dataclass(frozen=True)
class Attachment:
    """What goes under the final message: the video or audio itself (with its facts and thumbnail), or the
    thumbnail."""

    caption: str
    thumbnail: Path | None
    media: Path | None
    video: Video

    async def send(self, bot, chat_id: int, *, reply_to: int) -> None:
        thumbnail = self.thumbnail.read_bytes() if self.thumbnail is not None else None
        if self.media is not None and self.video.kind == videos.AUDIO:  # Telegram's player, with the artwork
            with self.media.open("rb") as file:
                await bot.send_audio(chat_id, file, duration=round(self.video.duration or 0) or None,
                                     title=self.caption, thumbnail=thumbnail, caption=self.caption,
                                     reply_to_message_id=reply_to, read_timeout=120, write_timeout=120)
        elif self.media is not None:
            with self.media.open("rb") as file:
                await bot.send_video(chat_id, file, duration=round(self.video.duration or 0) or None,
                                     width=self.video.width, height=self.video.height, thumbnail=thumbnail,
                                     caption=self.caption, supports_streaming=True, reply_to_message_id=reply_to,
                                     read_timeout=120, write_timeout=120)
        elif thumbnail is not None:
            await bot.send_photo(chat_id, thumbnail, caption=self.caption, reply_to_message_id=reply_to)


def _target(job: Job) -> dict | None:
    target = (job.params or {}).get("telegram")
    return target if target and target.get("message_id") else None


def _key(target: dict) -> tuple[int, int]:
    return target["chat_id"], target["message_id"]
