"""The outgoing webhook: Standard Webhooks signatures, and one POST through the address guard.

Signing follows https://www.standardwebhooks.com: the secret is ``whsec_`` + base64 of the key, and
``webhook-signature`` is ``v1,`` + base64 HMAC-SHA256 of ``{id}.{timestamp}.{body}`` under the decoded key.
The receiver de-duplicates by ``webhook-id`` (the event's stable id) and checks the timestamp's age.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import urllib.error
import urllib.request

from chalicelib import aws, netguard
from chalicelib.config import Settings
from chalicelib.errors import PrsnlError

SECRET_PREFIX = "whsec_"


class DeliveryError(Exception):
    """A destination did not take the event (it is tried again later)."""


def signing_key(secret: str) -> bytes:
    """The HMAC key a ``whsec_<base64>`` secret stands for."""
    encoded = secret.strip().removeprefix(SECRET_PREFIX)
    try:
        key = base64.b64decode(encoded, validate=True)
    except (binascii.Error, ValueError):
        key = b""
    if not key:
        raise PrsnlError("PRSNL_WEBHOOK_SECRET must be whsec_ followed by base64", code="not_configured")
    return key


def signature(key: bytes, msg_id: str, timestamp: int, body: bytes) -> str:
    digest = hmac.new(key, f"{msg_id}.{timestamp}.".encode() + body, hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode()


def signed_headers(key: bytes, msg_id: str, timestamp: int, body: bytes) -> dict[str, str]:
    return {"webhook-id": msg_id, "webhook-timestamp": str(timestamp),
            "webhook-signature": signature(key, msg_id, timestamp, body), "content-type": "application/json"}


class _NoRedirects(urllib.request.HTTPRedirectHandler):
    """A receiver answers; it does not send us elsewhere (a redirect counts as a failed delivery)."""

    def redirect_request(self, *args, **kwargs):
        return None


_OPENER = urllib.request.build_opener(_NoRedirects)


class HttpWebhook:
    """POST one signed event to ``PRSNL_WEBHOOK_URL``, connecting only where the address guard allows."""

    def __init__(self, settings: Settings):
        self.url = settings.webhook_url
        self.timeout = settings.webhook_timeout_seconds
        self.allow_loopback = settings.allow_loopback_urls
        self.settings = settings

    def send(self, msg_id: str, body: bytes, *, timestamp: int) -> None:
        netguard.check_url(self.url, allow_loopback=self.allow_loopback)
        request = urllib.request.Request(self.url, data=body, method="POST",
                                         headers=signed_headers(self._key(), msg_id, timestamp, body))
        try:
            with netguard.guarded_connections(allow_loopback=self.allow_loopback), \
                    _OPENER.open(request, timeout=self.timeout) as response:
                response.read(64 * 1024)
        except urllib.error.HTTPError as exc:
            raise DeliveryError(f"the webhook answered {exc.code}") from None
        except (OSError, ValueError) as exc:  # refused, reset, timed out, a blocked address
            raise DeliveryError(f"the webhook could not be reached: {exc}") from None

    def _key(self) -> bytes:
        secret = self.settings.webhook_secret or (aws.secret(self.settings.webhook_secret_secret)
                                                  if self.settings.webhook_secret_secret else None)
        if not secret:
            raise PrsnlError("PRSNL_WEBHOOK_URL needs PRSNL_WEBHOOK_SECRET (or PRSNL_WEBHOOK_SECRET_SECRET)",
                             code="not_configured")
        return signing_key(secret)
