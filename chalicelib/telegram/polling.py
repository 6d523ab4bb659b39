"""Polling mode for local development: getUpdates in a loop, each update through the same handlers.

A bot has either a webhook or getUpdates, so polling starts by removing the webhook.
"""

from __future__ import annotations

import asyncio
import threading
from collections import Counter
from typing import TYPE_CHECKING

from chalicelib.observability import logger
from chalicelib.telegram import bot as telegram_bot
from chalicelib.telegram import commands

MAX_TRIES = 5  # deliveries of an update that keeps failing before polling moves past it

if TYPE_CHECKING:
    from chalicelib.wiring import Services


def run(services: Services, *, stop: threading.Event, timeout: int = 10) -> None:
    """Poll until ``stop`` is set (Ctrl-C also ends it)."""
    telegram_bot.run(services.settings, lambda bot: poll(bot, services, stop=stop, timeout=timeout))


async def poll(bot, services: Services, *, stop: threading.Event, timeout: int) -> None:
    from telegram.error import TelegramError

    await bot.delete_webhook()
    offset, tries = None, Counter()
    while not stop.is_set():
        try:
            updates = await bot.get_updates(offset=offset, timeout=timeout, read_timeout=timeout + 10,
                                            allowed_updates=telegram_bot.ALLOWED_UPDATES)
        except TelegramError as exc:
            logger.warning("getUpdates failed; trying again", extra={"error": telegram_bot.describe(exc)})
            await asyncio.sleep(1)
            continue
        for update in updates:
            try:
                await commands.process(update, bot=bot, services=services)
            except Exception as exc:  # not handled: fetched again, unless it keeps failing (it must not stop the bot)
                telegram_bot.log_failure("telegram update failed", exc, update_id=update.update_id)
                tries[update.update_id] += 1
                if tries[update.update_id] < MAX_TRIES:
                    await asyncio.sleep(1)
                    break
            offset = update.update_id + 1
