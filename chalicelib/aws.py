"""boto3 clients, created on first use and cached per (service, region, endpoint).

Clients are never made at import: the endpoint (moto server, in-process moto, AWS) is only
known once the environment is set. ``reset()`` drops them (tests, endpoint changes). boto3 itself
(about 100 ms with s3transfer) is imported with the first client: the API's routes that only read
records never pay for it.
"""

from __future__ import annotations

import os
from functools import cache
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import boto3


def client(service: str):
    return _client(service, os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION") or "us-east-1",
                   os.environ.get("AWS_ENDPOINT_URL"))


@cache
def _session() -> boto3.session.Session:
    """One session per process: each new session parses the service models again."""
    import boto3

    return boto3.session.Session()


@cache
def _client(service: str, region: str, endpoint: str | None):
    from botocore.config import Config

    # S3 bodies are checked by their CRC32 (botocore's default for uploads), so their SHA-256 is left out of the
    # signature, as botocore leaves it out over HTTPS already; over plain HTTP (the local moto server) it hashed each
    # body: 12 ms of the worker's CPU per 20 MB.
    config = Config(signature_version="s3v4", retries={"max_attempts": 3, "mode": "standard"},
                    s3={"payload_signing_enabled": False})
    return _session().client(service, region_name=region, config=config)


@cache
def secret(secret_id: str) -> str:
    """A Secrets Manager string, read once per process (a Lambda container reads each secret once)."""
    return client("secretsmanager").get_secret_value(SecretId=secret_id)["SecretString"]


def reset() -> None:
    """Drop the clients and secrets (the endpoint, region or a secret changed); the session stays."""
    _client.cache_clear()
    secret.cache_clear()
