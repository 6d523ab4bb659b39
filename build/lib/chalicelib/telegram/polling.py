"""Polling mode for local development: getUpdates in a loop, each update through the same handlers.

A bot has either a webhook or getUpdates, so polling starts by removing the webhook.
"""

from __future__ import annotations

import asyncio
import threading
from typing import TYPE_CHECKING

from chalicelib.observability import logger
from chalicelib.telegram import bot as telegram_bot
from chalicelib.telegram import commands

if TYPE_CHECKING:
    from chalicelib.wiring import Services


def run(services: Services, *, stop: threading.Event, timeout: int = 10) -> None:
    """Poll until ``stop`` is set (Ctrl-C also ends it)."""
    telegram_bot.run(services.settings, lambda bot: poll(bot, services, stop=stop, timeout=timeout))


async def poll(bot, services: Services, *, stop: threading.Event, timeout: int) -> None:
    from telegram.error import TelegramError

    await bot.delete_webhook()
    offset = None
    while not stop.is_set():
        try:
            updates = await bot.get_updates(offset=offset, timeout=timeout, read_timeout=timeout + 10,
                                            allowed_updates=telegram_bot.ALLOWED_UPDATES)
        except TelegramError as exc:
            logger.warning("getUpdates failed; trying again", extra={"error": telegram_bot.describe(exc)})
            await asyncio.sleep(1)
            continue
        for update in updates:
            offset = update.update_id + 1
            try:
                await commands.process(update, bot=bot, services=services)
            except Exception as exc:  # one bad update must not stop the bot
                telegram_bot.log_failure("telegram update failed", exc, update_id=update.update_id)
