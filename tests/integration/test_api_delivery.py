"""Signed URLs: with a CloudFront key pair configured, stream answers a CloudFront URL whose canned-policy
signature verifies with the public key; without one, an S3 presigned URL (the local stack's case)."""

from __future__ import annotations

import base64
import json
from datetime import datetime
from urllib.parse import parse_qs, urlsplit

import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from chalicelib import aws, wiring
from chalicelib.records.models import Video
from chalicelib.storage import layout, signed_urls

KEY_PAIR_ID = "K2JCJMDEHXQW5F"
CDN = "d111111abcdef8.cloudfront.net"


@pytest.fixture(scope="module")
def private_key():
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def pem(key) -> str:
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption()).decode()


@pytest.fixture
def ready_video(user) -> Video:
    """A ready video record (delivery only signs keys; it never reads the object)."""
    now = wiring.services().clock.now()
    video = Video("v1", owner_id=user.user_id, created_at=now, updated_at=now, status="ready", source_url="u",
                  canonical_url="u", owner_source="o", platform="direct", file_key=layout.video_key("v1", now),
                  thumbnails={"small": layout.thumbnail_key("v1", now, "small")})
    video.save()
    return video


def verify_cloudfront(url: str, key, expected_path: str) -> int:
    """Check a canned-policy CloudFront URL as CloudFront does; returns its expiry (epoch seconds)."""
    parts = urlsplit(url)
    query = parse_qs(parts.query)
    assert parts.scheme == "https" and parts.netloc == CDN and parts.path == "/" + expected_path
    assert query["Key-Pair-Id"] == [KEY_PAIR_ID]
    expires = int(query["Expires"][0])
    resource = url.split("?")[0]
    statement = {"Resource": resource, "Condition": {"DateLessThan": {"AWS:EpochTime": expires}}}
    policy = json.dumps({"Statement": [statement]}, separators=(",", ":")).encode()
    signature = base64.b64decode(query["Signature"][0].translate(str.maketrans("-_~", "+=/")))
    key.public_key().verify(signature, policy, padding.PKCS1v15(), hashes.SHA1())
    return expires


def test_stream_redirects_to_a_signed_cloudfront_url(client, user, ready_video, settings_env, private_key):
    # GIVEN a CloudFront key pair in the settings
    settings_env(PRSNL_CDN_DOMAIN=CDN, PRSNL_CDN_KEY_PAIR_ID=KEY_PAIR_ID, PRSNL_CDN_PRIVATE_KEY=pem(private_key),
                 PRSNL_SIGNED_URL_SECONDS="120")
    # WHEN the stream and a thumbnail are asked for
    stream = client.http.get("/api/videos/v1/stream", headers=user.headers)
    thumb = client.http.get("/api/videos/v1/thumbnail?size=small&redirect=false", headers=user.headers).json_body
    # THEN both are CloudFront URLs whose signatures verify and that expire with the answer's expires_at
    assert stream.status_code == 302
    now = wiring.services().clock.now().timestamp()
    assert now + 110 < verify_cloudfront(stream.headers["Location"], private_key, ready_video.file_key) <= now + 121
    expires = verify_cloudfront(thumb["url"], private_key, ready_video.thumbnails["small"])
    assert abs(expires - datetime.fromisoformat(thumb["expires_at"]).timestamp()) < 1


def test_signing_key_comes_from_secrets_manager(user, ready_video, settings_env, private_key):
    aws.client("secretsmanager").create_secret(Name="prsnl/cdn-key", SecretString=pem(private_key))
    settings_env(PRSNL_CDN_DOMAIN=CDN, PRSNL_CDN_KEY_PAIR_ID=KEY_PAIR_ID, PRSNL_CDN_PRIVATE_KEY_SECRET="prsnl/cdn-key")
    services = wiring.services()
    signed = signed_urls.signed_url(ready_video.file_key, settings=services.settings, storage=services.storage,
                                 now=services.clock.now())
    verify_cloudfront(signed.url, private_key, ready_video.file_key)


def test_without_a_key_pair_the_url_is_s3_presigned(client, user, ready_video):
    body = client.http.get("/api/videos/v1/stream?redirect=false", headers=user.headers).json_body
    query = parse_qs(urlsplit(body["url"]).query)
    assert query["X-Amz-Expires"] == ["300"] and query["X-Amz-Algorithm"] == ["AWS4-HMAC-SHA256"]
    assert urlsplit(body["url"]).path.endswith(ready_video.file_key)
