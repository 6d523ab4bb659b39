"""python-telegram-bot from synchronous code, and what every caller of the Bot API shares.

PTB 22 is asyncio only, and a Bot keeps an HTTP client bound to the event loop it was opened in:
each synchronous entry point (webhook view, worker notifier) runs ``asyncio.run`` with
``async with bot`` inside, so nothing outlives its loop ("Event loop is closed" otherwise).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import TypeVar

from chalicelib.config import Settings
from chalicelib.errors import PrsnlError
from chalicelib.observability import logger
from chalicelib.telegram.credentials import credentials

T = TypeVar("T")

PUBLIC_API_URL = "https://api.telegram.org"
ALLOWED_UPDATES = ("message",)


def make_bot(settings: Settings):
    from telegram import Bot

    token = credentials(settings).token
    if not token:
        raise PrsnlError("the Telegram bot token is not configured", code="telegram_not_configured")
    # httpx logs every request URL at INFO, and Bot API URLs carry the token
    logging.getLogger("httpx").setLevel(logging.WARNING)
    base = (settings.telegram_api_url or PUBLIC_API_URL).rstrip("/")
    return Bot(token, base_url=f"{base}/bot", base_file_url=f"{base}/file/bot")


def run(settings: Settings, work: Callable[..., Awaitable[T]]) -> T:
    """``work(bot)`` in a fresh event loop, with a Bot opened and closed inside it."""

    async def main() -> T:
        async with make_bot(settings) as bot:
            return await work(bot)

    return asyncio.run(main())


def log_failure(what: str, exc: BaseException, **extra) -> None:
    """Log a failure: Telegram errors by name and message only (a PTB traceback can quote the token)."""
    from telegram.error import TelegramError

    if isinstance(exc, TelegramError):
        logger.warning(what, extra={**extra, "error": describe(exc)})
    else:
        logger.exception(what, extra=extra)


def describe(exc: BaseException) -> str:
    """A Telegram failure for the logs; InvalidToken's message quotes the token, so only its name is kept."""
    from telegram.error import InvalidToken, TelegramError

    if isinstance(exc, TelegramError) and not isinstance(exc, InvalidToken):
        return f"{type(exc).__name__}: {exc.message}"
    return type(exc).__name__
