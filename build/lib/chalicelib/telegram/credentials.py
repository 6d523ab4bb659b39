"""The bot token and the webhook secret: from Secrets Manager in AWS, from settings locally.

Read on first use and cached per secret id (a Lambda reads each secret once per container).
The token is the bot's password and sits in every Bot API URL: nothing here logs it.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from chalicelib import aws
from chalicelib.config import Settings


@dataclass(frozen=True)
class Credentials:
    token: str | None = field(repr=False)
    webhook_secret: str | None = field(repr=False)


def credentials(settings: Settings) -> Credentials:
    return Credentials(
        token=settings.telegram_token or _secret(settings.telegram_token_secret),
        webhook_secret=settings.telegram_webhook_secret or _secret(settings.telegram_webhook_secret_secret),
    )


def _secret(secret_id: str | None) -> str | None:
    return aws.secret(secret_id).strip() if secret_id else None
