"""Watch links: a capability for one video that plays without a header, revocable by its owner.

A token is ``<payload>.<signature>``: the payload names the video, its share version and an optional
expiry, the signature is an HMAC-SHA256 of it under the watch secret. Rotating the video's share
version (``POST /api/videos/{id}/share``) makes every earlier token answer 404, so nothing needs to be
stored per link. The secret comes from ``PRSNL_WATCH_SECRET`` (``make run`` generates one under
``.local/``) or from Secrets Manager (``PRSNL_WATCH_SECRET_SECRET``) in AWS.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
from datetime import datetime

from chalicelib import aws
from chalicelib.config import Settings
from chalicelib.errors import NotFoundError, PrsnlError
from chalicelib.records import videos
from chalicelib.records.models import Video

SIGNATURE_BYTES = 16


def token(video: Video, *, settings: Settings, now: datetime) -> str:
    """The current watch token of a video (the same one until it is rotated, unless links have a lifetime)."""
    expires = int(now.timestamp()) + settings.watch_link_seconds if settings.watch_link_seconds else 0
    payload = _encode(f"{video.video_id}:{video.share_version or 0}:{expires}".encode())
    return f"{payload}.{_signature(payload, settings)}"


def link(video: Video, *, settings: Settings, base_url: str, now: datetime) -> str | None:
    """The absolute watch page address of a stored video; None while there is nothing to watch."""
    if video.status != videos.READY:
        return None
    return f"{base_url.rstrip('/')}/watch/{token(video, settings=settings, now=now)}"


def public_link(video: Video, *, settings: Settings, now: datetime) -> str | None:
    """The watch link for messages sent without a request at hand (the bot): under PRSNL_PUBLIC_URL."""
    return link(video, settings=settings, base_url=settings.public_url, now=now) if settings.public_url else None


def video_for(watch_token: str, *, settings: Settings, now: datetime) -> Video:
    """The ready video a token grants; NotFoundError for a forged, expired, revoked or deleted one."""
    gone = NotFoundError("this watch link does not exist or was revoked", code="not_found")
    payload, _, signature = watch_token.partition(".")
    if not hmac.compare_digest(signature.encode(), _signature(payload, settings).encode()):
        raise gone
    try:
        video_id, version, expires = _decode(payload).decode().split(":")
        version, expires = int(version), int(expires)
    except (ValueError, UnicodeDecodeError, binascii.Error):
        raise gone from None
    video = videos.find(video_id)
    if (video is None or video.status != videos.READY or (video.share_version or 0) != version
            or (expires and now.timestamp() > expires)):
        raise gone
    return video


def _signature(payload: str, settings: Settings) -> str:
    digest = hmac.new(_secret(settings).encode(), payload.encode(), hashlib.sha256).digest()
    return _encode(digest[:SIGNATURE_BYTES])


def _secret(settings: Settings) -> str:
    if settings.watch_secret:
        return settings.watch_secret
    if settings.watch_secret_secret:
        return aws.secret(settings.watch_secret_secret)
    raise PrsnlError("watch links need PRSNL_WATCH_SECRET or PRSNL_WATCH_SECRET_SECRET", code="not_configured")


def _encode(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def _decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
