"""Short-lived signed URLs for media: the CDN (CloudFront) when a key pair is configured, S3 presigned otherwise.

Media bytes never pass through the API: it only signs a URL and redirects, so Range requests,
seeking and bandwidth are the CDN's (or S3's on the local stack).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import lru_cache
from urllib.parse import quote

from chalicelib import aws
from chalicelib.config import Settings


@dataclass(frozen=True)
class SignedUrl:
    url: str
    expires_at: datetime

    def to_dict(self) -> dict:
        return {"url": self.url, "expires_at": self.expires_at.isoformat()}


def signed_url(key: str, *, settings: Settings, storage, now: datetime) -> SignedUrl:
    """A URL to the object that stops working after ``signed_url_seconds``."""
    expires_at = now + timedelta(seconds=settings.signed_url_seconds)
    if settings.cdn_domain and settings.cdn_key_pair_id:
        url = _cloudfront_signer(settings.cdn_key_pair_id, _private_key(settings)).generate_presigned_url(
            f"https://{settings.cdn_domain}/{quote(key)}", date_less_than=expires_at)
    else:
        url = storage.presign(key, settings.signed_url_seconds)
    return SignedUrl(url, expires_at)


def _private_key(settings: Settings) -> str:
    if settings.cdn_private_key:
        return settings.cdn_private_key
    if not settings.cdn_private_key_secret:
        raise RuntimeError("PRSNL_CDN_KEY_PAIR_ID is set without PRSNL_CDN_PRIVATE_KEY(_SECRET)")
    return aws.secret(settings.cdn_private_key_secret)


@lru_cache(maxsize=4)
def _cloudfront_signer(key_pair_id: str, pem: str):
    """botocore's CloudFrontSigner with an RSA-SHA1 signer (what CloudFront verifies); cryptography loads lazily."""
    from botocore.signers import CloudFrontSigner
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import padding

    private_key = serialization.load_pem_private_key(pem.encode(), password=None)
    return CloudFrontSigner(key_pair_id, lambda message: private_key.sign(message, padding.PKCS1v15(), hashes.SHA1()))
