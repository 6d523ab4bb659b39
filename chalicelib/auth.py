"""API keys: handed out once, stored only as SHA-256, looked up by that hash."""

from __future__ import annotations

import hashlib
import secrets
from datetime import datetime

from chalicelib.errors import UnauthorizedError
from chalicelib.models import ApiKey

KEY_PREFIX = "prsnl_"


def hash_key(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def issue_key(user_id: str, *, now: datetime, label: str | None = None) -> str:
    """Create a key for the user; the plain key is returned once and never stored."""
    return register_key(user_id, KEY_PREFIX + secrets.token_urlsafe(32), now=now, label=label)


def register_key(user_id: str, key: str, *, now: datetime, label: str | None = None) -> str:
    """Store a key the caller already has (the local stack keeps its key across restarts)."""
    ApiKey(hash_key(key), user_id=user_id, label=label, created_at=now).save()
    return key


def revoke_key(key_hash: str) -> None:
    ApiKey(key_hash).delete()


def user_for_key(key: str | None) -> str:
    """The user id behind a key; UnauthorizedError for a missing, malformed or unknown key."""
    if not key:
        raise UnauthorizedError("an API key is required: Authorization: Bearer <key>")
    try:
        return ApiKey.get(hash_key(key)).user_id
    except ApiKey.DoesNotExist:
        raise UnauthorizedError("unknown API key") from None


def bearer_token(header: str | None) -> str | None:
    if not header:
        return None
    scheme, _, token = header.partition(" ")
    return token.strip() if scheme.lower() == "bearer" and token.strip() else None
