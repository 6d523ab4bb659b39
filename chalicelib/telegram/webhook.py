"""POST /telegram/webhook (and /api/telegram/webhook, the old backend's path): Telegram's updates.

Telegram signs nothing; it sends the secret given to setWebhook in a header, checked here in
constant time before anything else. A good request is handled once (see seen_updates), its links
and files are queued through the capture service, and the answer is 200 in well under a second:
downloads happen in the worker. An update that could not be handled now (its reply refused by the Bot
API, our storage down) is answered 503 and Telegram sends it again; a body that is not an update is
acknowledged and ignored (a 5xx would only make Telegram send it again and again).
"""

from __future__ import annotations

import hmac
import json

from chalice import Blueprint

from chalicelib import wiring
from chalicelib.api.http import json_errors, json_response
from chalicelib.errors import ForbiddenError, UnauthorizedError, UnavailableError
from chalicelib.observability import logger
from chalicelib.ops import metrics

SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"
UPDATE_IDS = 2**63  # Telegram's update ids are positive and below it; a larger one could not be kept as handled

bp = Blueprint(__name__)


@bp.route("/telegram/webhook", methods=["POST"])
@json_errors
def receive_telegram_update():
    return _receive(bp.current_request)


@bp.route("/api/telegram/webhook", methods=["POST"])
@json_errors
def receive_telegram_update_api():
    return _receive(bp.current_request)


def _receive(request):
    from chalicelib.telegram.credentials import credentials

    services = wiring.services()
    try:
        check_secret(request.headers.get(SECRET_HEADER), credentials(services.settings).webhook_secret)
    except (ForbiddenError, UnauthorizedError) as refusal:
        metrics.telegram_update(handled=False, kind=refusal.code)
        raise
    data = _json_object(request.raw_body)
    if data is None or not isinstance(data.get("update_id"), int) or not 0 <= data["update_id"] < UPDATE_IDS:
        logger.warning("telegram webhook body is not an update; ignored")
        return json_response({"ok": True, "handled": False})
    return json_response({"ok": True, "handled": _handle(data, services)})


def check_secret(given: str | None, expected: str | None) -> None:
    """Refuse unless the header carries the configured secret (compared in constant time)."""
    if not expected:
        raise ForbiddenError("the webhook secret is not configured", code="webhook_not_configured")
    if not given:
        raise UnauthorizedError("the secret token header is missing", code="missing_secret_token")
    if not hmac.compare_digest(given.encode(), expected.encode()):
        raise ForbiddenError("the secret token is wrong", code="wrong_secret_token")


def _json_object(body: bytes | None) -> dict | None:
    try:
        data = json.loads(body or b"")
    except (ValueError, UnicodeDecodeError):
        return None
    return data if isinstance(data, dict) else None


def _readable(update) -> bool:
    """What the bot reads of an update has the types the Bot API gives it: a button's data, a message's text and
    caption strings, its entities at whole-number positions, a text link's URL a string (``de_json`` checks none)."""
    from telegram import MessageEntity

    if update.callback_query is not None and not isinstance(update.callback_query.data, str | None):
        return False
    message = update.effective_message
    if message is None:
        return True
    entities = (*message.entities, *message.caption_entities)
    return (all(isinstance(text, str | None) for text in (message.text, message.caption))
            and all(isinstance(entity.offset, int) and isinstance(entity.length, int)
                    and isinstance(entity.url, str if entity.type == MessageEntity.TEXT_LINK else str | None)
                    for entity in entities))


def _handle(data: dict, services) -> bool:
    from telegram import Update

    from chalicelib.telegram import bot as telegram_bot
    from chalicelib.telegram import commands

    async def work(bot) -> bool:
        try:
            update = Update.de_json(data, bot)
        except (KeyError, TypeError, ValueError, AttributeError):
            update = None
        if update is None or not _readable(update):
            logger.warning("telegram update could not be read; ignored", extra={"update_id": data["update_id"]})
            return False
        return await commands.process(update, bot=bot, services=services)

    try:
        return telegram_bot.run(services.settings, work)
    except Exception as exc:  # not marked handled: a 503 makes Telegram deliver the update again later
        telegram_bot.log_failure("telegram update failed; Telegram will send it again", exc,
                                 update_id=data["update_id"])
        raise UnavailableError("the update could not be handled now; send it again later",
                                code="update_not_handled") from None
