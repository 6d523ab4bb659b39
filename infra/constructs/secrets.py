"""Secrets Manager entries the functions read at run time; values are set by the operator (docs/deploy.md)."""

from __future__ import annotations

from aws_cdk import SecretValue
from aws_cdk import aws_secretsmanager as secretsmanager
from constructs import Construct

from infra.constructs import nag


class AppSecrets(Construct):
    """Telegram bot token and webhook secret, the CloudFront signing key, the watch-link key, the outgoing webhook's
    signing key, per-platform cookies."""

    def __init__(self, scope: Construct, construct_id: str, *, prefix: str) -> None:
        super().__init__(scope, construct_id)
        self.telegram_token = self._secret("TelegramToken", f"{prefix}/telegram-token", "The bot token from @BotFather")
        # Telegram accepts A-Z, a-z, 0-9, _ and - in secret_token: letters and digits are generated (both here).
        self.webhook_secret = self._generated(
            "TelegramWebhookSecret", f"{prefix}/telegram-webhook-secret",
            "Sent by Telegram in X-Telegram-Bot-Api-Secret-Token; pass it to setWebhook")
        self.watch_secret = self._generated(
            "WatchSecret", f"{prefix}/watch-secret",
            "HMAC key of the watch links (/watch/{token}); a new value revokes them all")
        # letters and digits, 48 of them, are base64 too: the key of the Standard Webhooks secret whsec_<value>
        self.outgoing_webhook_secret = self._generated(
            "OutgoingWebhookSecret", f"{prefix}/outgoing-webhook-secret",
            "Signing key of the outgoing webhook (PRSNL_WEBHOOK_URL); the receiver's secret is whsec_ + this value")
        self.cdn_signing_key = self._secret(
            "CdnSigningKey", f"{prefix}/cdn-signing-key", "PEM private key matching the CloudFront public key"
        )
        self.platform_cookies = secretsmanager.Secret(
            self,
            "PlatformCookies",
            secret_name=f"{prefix}/platform-cookies",
            description='JSON {"youtube": "<Netscape cookies.txt>", ...}; {} means anonymous',
            secret_string_value=SecretValue.unsafe_plain_text("{}"),  # not a secret: an empty map
        )
        nag.acknowledge(
            self,
            "SMG4",
            "Third-party credentials (Telegram, platform cookies, a CloudFront key pair registered with "
            "the distribution) cannot be rotated by a Lambda; they are replaced by hand (docs/deploy.md).",
        )

    def _generated(self, construct_id: str, name: str, description: str) -> secretsmanager.Secret:
        """A secret only this system uses: letters and digits generated at the first deploy."""
        return secretsmanager.Secret(
            self, construct_id, secret_name=name, description=description,
            generate_secret_string=secretsmanager.SecretStringGenerator(exclude_punctuation=True, password_length=48),
        )

    def _secret(self, construct_id: str, name: str, description: str) -> secretsmanager.Secret:
        """A secret whose real value the operator puts after the first deploy (a random placeholder until then)."""
        return secretsmanager.Secret(self, construct_id, secret_name=name, description=description)
