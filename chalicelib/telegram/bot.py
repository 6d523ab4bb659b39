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
ALLOWED_UPDATES = ("message", "callback_query")  # messages, and the Retry button under a failure reply


def make_bot(settings: Settings):
    from telegram import Bot

    token = credentials(settings).token
    if not token:
        raise PrsnlError("the Telegram bot token is not configured", code="telegram_not_configured")
    # httpx logs every request URL at INFO, and Bot API URLs carry the token
    logging.getLogger("httpx").setLevel(logging.WARNING)
    base = (settings.telegram_api_url or PUBLIC_API_URL).rstrip("/")
    return Bot(token, base_url=f"{base}/bot", base_file_url=f"{base}/file/bot")


def retry_keyboard(video_id: str):
    """The Retry button under a failure reply: its callback data names the video (the owner is checked on use)."""
    from telegram import InlineKeyboardButton, InlineKeyboardMarkup

    from chalicelib.telegram import replies

    return InlineKeyboardMarkup([[InlineKeyboardButton(replies.RETRY_BUTTON,
                                                       callback_data=replies.retry_data(video_id))]])


def run(settings: Settings, work: Callable[..., Awaitable[T]]) -> T:
    """``work(bot)`` in a fresh event loop, with a Bot opened and closed inside it."""

    async def main() -> T:
        async with make_bot(settings) as bot:
            return await work(bot)

    return asyncio.run(main())


RETRIES = 2  # a reply is tried three times before the update is given back to Telegram to deliver again
MAX_WAIT_SECONDS = 5.0  # the longest RetryAfter waited out in place (a webhook must answer soon)


async def patiently(call: Callable[[], Awaitable[T]]) -> T:
    """A Bot API call, tried again after Telegram's RetryAfter (429) or a network error; raises the last failure."""
    attempt = 0
    while True:
        try:
            return await call()
        except Exception as exc:
            if attempt == RETRIES or not transient(exc):
                raise
            attempt += 1
            await asyncio.sleep(min(_retry_after(exc), MAX_WAIT_SECONDS))


def transient(exc: BaseException) -> bool:
    """A Telegram failure that passes: flood control and the network (a BadRequest is a NetworkError in PTB)."""
    from telegram.error import BadRequest, NetworkError, RetryAfter

    return isinstance(exc, RetryAfter) or (isinstance(exc, NetworkError) and not isinstance(exc, BadRequest))


def _retry_after(exc: BaseException) -> float:
    wait = getattr(exc, "retry_after", 1)
    return wait.total_seconds() if hasattr(wait, "total_seconds") else float(wait)


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
