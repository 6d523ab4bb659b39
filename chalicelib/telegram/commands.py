"""The bot's behaviour, shared by the webhook and polling mode: one update in, replies and captures out.

Everything a message asks for goes through the same use cases as the API (``capture``, video
and job records, quotas); downloads never happen here, the worker does them from the queue.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from chalicelib import capture as capture_service
from chalicelib import watch
from chalicelib.errors import PrsnlError
from chalicelib.observability import logger
from chalicelib.ops import metrics
from chalicelib.platforms import telegram as telegram_files
from chalicelib.records import jobs, users, videos
from chalicelib.telegram import accounts, replies, seen_updates
from chalicelib.telegram import bot as telegram_bot

if TYPE_CHECKING:
    from chalicelib.wiring import Services

RECENT = 10
IN_PROGRESS = (videos.QUEUED, videos.PROCESSING)


@dataclass(frozen=True)
class Media:
    """A file in a message that we keep: its Bot API id, what it is and how big it says it is."""

    file_id: str
    file_unique_id: str
    kind: str  # "video" or "image"
    size: int | None
    name: str | None


async def process(update, *, bot, services: Services) -> bool:
    """Handle an update unless it was handled before; False for a redelivery. A failure that may pass (Telegram
    asking to slow down, the network, our storage) is raised with the update not marked: it comes again."""
    from telegram.error import TelegramError

    logger.set_correlation_id(f"telegram-{update.update_id}")  # the same id rides on its captures' jobs
    if seen_updates.handled(update.update_id):
        logger.info("telegram update already handled", extra={"update_id": update.update_id})
        return False
    try:
        await handle(update, bot=bot, services=services)
    except TelegramError as exc:
        if telegram_bot.transient(exc):
            raise
        telegram_bot.log_failure("telegram update failed for good", exc, update_id=update.update_id)
    seen_updates.mark_handled(update.update_id, now=services.clock.now())
    return True


async def handle(update, *, bot, services: Services) -> None:
    message, sender = update.message, update.effective_user
    if update.callback_query is not None:
        await press(update.callback_query, bot=bot, services=services, correlation_id=f"telegram-{update.update_id}")
        return
    if message is None or sender is None:
        return  # not a new message (an edit, a channel post, a member change...): nothing to do
    if sender.id not in services.settings.telegram_allowed_users:
        _refused(sender.id)
        await telegram_bot.patiently(lambda: bot.send_message(message.chat_id, replies.refusal(sender.id)))
        return
    chat = _Chat(bot, message, services, accounts.owner_for(sender.id, sender.full_name, services), update)
    command = command_of(message)
    metrics.telegram_update(handled=True, kind="message" if command is None else "command")
    if command is not None:
        await chat.command(command, sender.id)
    elif (media := media_of(message)) is not None:
        await chat.save_file(media)
    elif links := links_of(message):
        for link in links:
            await chat.save_link(link)
    else:
        await chat.say(replies.NOTHING_TO_SAVE)


async def press(query, *, bot, services: Services, correlation_id: str) -> None:
    """A button pressed under one of the bot's replies (the Retry under a failure): always answered, so the
    person's client stops its spinner; the reply then follows the new job as it followed the first."""
    sender = query.from_user
    if sender.id not in services.settings.telegram_allowed_users:
        _refused(sender.id)
        await telegram_bot.patiently(lambda: bot.answer_callback_query(query.id, text=replies.refusal(sender.id)[:200],
                                                                       show_alert=True))
        return
    video_id = replies.retried_video(query.data)
    if video_id is None:
        await telegram_bot.patiently(lambda: bot.answer_callback_query(query.id))
        return
    metrics.telegram_update(handled=True, kind="retry")
    reply = query.message
    label = replies.label_of(getattr(reply, "text", None)) or "your capture"
    target = {"chat_id": reply.chat.id, "message_id": reply.message_id, "label": label} if reply else None
    owner_id = accounts.owner_for(sender.id, sender.full_name, services)
    if (refusal := _not_retryable(videos.find(video_id), owner_id)) is not None:
        # a late or repeated press (the reply shows its job's state), or another member's in a group: left as it is
        await telegram_bot.patiently(lambda: bot.answer_callback_query(query.id, text=refusal))
        return
    # the reply says "queued" (its button gone) before the job is sent, so the worker's edits always come after
    await _edit(bot, target, replies.progress(label, {"stage": "queued"}))
    try:
        capture_service.retry(video_id, owner_id=owner_id, services=services, correlation_id=correlation_id,
                              job_params={"telegram": target} if target else None)
    except Exception as error:
        code = getattr(error, "code", None)
        if code != "not_failed":  # else it was retried meanwhile (a double tap): the reply is that job's now
            button = None if code == "not_found" else telegram_bot.retry_keyboard(video_id)
            await _edit(bot, target, getattr(reply, "text", None), markup=button)
        if not isinstance(error, PrsnlError):
            raise
        why = replies.retry_refused(error.code, error.message)
        await telegram_bot.patiently(lambda: bot.answer_callback_query(query.id, text=why))
        return
    await telegram_bot.patiently(lambda: bot.answer_callback_query(query.id, text=replies.RETRYING))


def _not_retryable(video, owner_id: str) -> str | None:
    """Why a Retry press cannot queue the video again, as the press's answer; None when it can."""
    if video is None:
        return replies.retry_refused("not_found", "")
    if video.owner_id != owner_id:
        return replies.retry_refused("not_yours", "")
    return None if video.status == videos.FAILED else replies.retry_refused("not_failed", "")


async def _edit(bot, target: dict | None, text: str | None, *, markup=None) -> None:
    """Set the reply's text (and button); a reply that says so already is left as it is."""
    from telegram.error import BadRequest

    if target is None or not text:
        return
    try:
        await telegram_bot.patiently(lambda: bot.edit_message_text(
            text, chat_id=target["chat_id"], message_id=target["message_id"], disable_web_page_preview=True,
            reply_markup=markup))
    except BadRequest as exc:
        if "not modified" not in exc.message.lower():
            raise


def _progress_of(job) -> dict:
    """A job's progress; none for a job gone (expired, or the maintenance has yet to fail its video)."""
    return (job.progress or {}) if job is not None else {}


def _refused(telegram_id: int) -> None:
    logger.info("telegram user refused", extra={"telegram_id": telegram_id})
    metrics.telegram_update(handled=False, kind="user_not_allowed")


def command_of(message) -> str | None:
    """``/list@MyBot extra`` → ``list``; None when the message is not a command."""
    text = message.text or ""
    if not text.startswith("/"):
        return None
    return text[1:].split(maxsplit=1)[0].split("@", 1)[0].lower() if len(text) > 1 else ""


def links_of(message) -> list[str]:
    """Every link of a text or caption, plain URLs and text links alike, in order and once each."""
    from telegram import MessageEntity

    kinds = [MessageEntity.URL, MessageEntity.TEXT_LINK]
    found = {**message.parse_entities(kinds), **message.parse_caption_entities(kinds)}
    links = []
    for entity, text in sorted(found.items(), key=lambda item: item[0].offset):
        link = entity.url if entity.type == MessageEntity.TEXT_LINK else text
        if "://" not in link:
            link = f"https://{link}"
        if link not in links:
            links.append(link)
    return links


def media_of(message) -> Media | None:
    """The video or picture of a message: videos, GIFs, round videos, video and image documents, photos."""
    for item in (message.video, message.animation, message.video_note):
        if item is not None:
            return Media(item.file_id, item.file_unique_id, videos.VIDEO, item.file_size,
                         getattr(item, "file_name", None))
    document = message.document
    if document is not None and (document.mime_type or "").startswith(("video/", "image/")):
        kind = videos.VIDEO if document.mime_type.startswith("video/") else videos.IMAGE
        return Media(document.file_id, document.file_unique_id, kind, document.file_size, document.file_name)
    if message.photo:
        largest = max(message.photo, key=lambda p: (p.width * p.height, p.file_size or 0))
        return Media(largest.file_id, largest.file_unique_id, videos.IMAGE, largest.file_size, None)
    return None


class _Chat:
    """One message being answered: the replies it gets and the captures it makes."""

    def __init__(self, bot, message, services: Services, owner_id: str, update):
        self.bot, self.message, self.services, self.owner_id = bot, message, services, owner_id
        self.settings = services.settings
        self.correlation_id = f"telegram-{update.update_id}"

    async def say(self, text: str):
        return await telegram_bot.patiently(lambda: self.bot.send_message(
            self.message.chat_id, text, reply_to_message_id=self.message.message_id, disable_web_page_preview=True,
            allow_sending_without_reply=True))  # a message deleted meanwhile still gets its answer (and its capture)

    async def edit(self, reply, text: str) -> None:
        await telegram_bot.patiently(lambda: self.bot.edit_message_text(
            text, chat_id=reply.chat_id, message_id=reply.message_id, disable_web_page_preview=True))

    def watch_link(self, video) -> str | None:
        return watch.public_link(video, settings=self.settings, now=self.services.clock.now())

    async def command(self, name: str, telegram_id: int) -> None:
        if name == "list":
            page, _ = videos.list_for_owner(self.owner_id, limit=RECENT)
            await self.say(replies.video_list(page, {video.video_id: self.watch_link(video) for video in page}))
        elif name == "status":
            await self.say(replies.status(self._in_progress()))
        elif name == "quota":
            await self.say(replies.quota(users.get_user(self.owner_id)))
        elif name == "audio":  # /audio <link>: the sound only
            links = links_of(self.message)
            if not links:
                await self.say(replies.AUDIO_NEEDS_LINK)
            for link in links:
                await self.save_link(link, audio_only=True)
        else:  # /start, /help and anything unknown
            await self.say(replies.help_text(telegram_id))

    def _in_progress(self) -> list[tuple]:
        page, _ = videos.list_for_owner(self.owner_id, limit=5 * RECENT)
        active = [video for video in page if video.status in IN_PROGRESS and video.job_id]
        return [(video, _progress_of(jobs.find(video.job_id))) for video in active]

    async def save_link(self, link: str, *, audio_only: bool = False) -> None:
        reply = await self.say(replies.progress(link, {"stage": "queued"}))
        await self._capture(reply, link, lambda params: capture_service.capture(
            link, owner_id=self.owner_id, services=self.services, source="telegram",
            correlation_id=self.correlation_id, job_params=params, audio_only=audio_only))

    async def save_file(self, media: Media) -> None:
        limit = self.settings.telegram_download_limit
        if limit and media.size and media.size > limit:
            await self.say(replies.too_big_for_bot(media.size, limit))
            return
        label = media.name or ("your photo" if media.kind == videos.IMAGE else "your video")
        reply = await self.say(replies.progress(label, {"stage": "queued"}))
        resolved = telegram_files.resolve_file(media.file_unique_id)
        file = {"file_id": media.file_id, "size": media.size, "name": media.name}
        await self._capture(reply, label, lambda params: capture_service.capture_resolved(
            resolved, resolved.canonical_url, owner_id=self.owner_id, services=self.services, source="telegram",
            title=self.message.caption, kind=media.kind, correlation_id=self.correlation_id,
            job_params={**params, "telegram": {**params["telegram"], "file": file}}))

    async def _capture(self, reply, label: str, capture) -> None:
        """Queue through the capture service; the reply then belongs to the job (the worker edits it)."""
        params = {"telegram": {"chat_id": reply.chat_id, "message_id": reply.message_id, "label": label}}
        try:
            result = capture(params)
        except PrsnlError as error:
            await self.edit(reply, replies.failed(label, error.code, error.message))
            return
        except Exception:  # our storage, for a moment: Telegram sends the update again, which replies anew
            await self._withdraw(reply)
            raise
        if not result.created:
            await self.edit(reply, replies.already_saved(label, result.video, self.watch_link(result.video)))

    async def _withdraw(self, reply) -> None:
        """Delete a reply whose capture was not queued, so that it does not stay "queued" beside the next one."""
        try:
            await telegram_bot.patiently(lambda: self.bot.delete_message(reply.chat_id, reply.message_id))
        except Exception as exc:
            telegram_bot.log_failure("telegram reply not withdrawn", exc, chat_id=reply.chat_id)
