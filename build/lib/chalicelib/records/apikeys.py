"""API keys: handed out once, stored only as SHA-256, looked up by that hash."""

from __future__ import annotations

import hashlib
import secrets
from datetime import datetime

from chalicelib.errors import UnauthorizedError
from chalicelib.records.models import ApiKey, applied

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


def revoke_key(key_or_hash: str) -> bool:
    """Delete a key given as the key itself or as its hash; False when there was no such key."""
    key_hash = hash_key(key_or_hash) if key_or_hash.startswith(KEY_PREFIX) else key_or_hash
    return applied(lambda: ApiKey(key_hash).delete(condition=ApiKey.key_hash.exists()))


def list_keys(user_id: str) -> list[ApiKey]:
    """The user's keys (hash, label, date): what an admin needs to pick one to revoke."""
    return list(ApiKey.by_user.query(user_id))


def user_for_key(key: str | None) -> str:
    """The user id behind a key; UnauthorizedError for a missing, malformed or unknown key.

    Looked up on every request (no cache), so a revoked key stops working at once.
    """
    if not key:
        raise UnauthorizedError("an API key is required: Authorization: Bearer <key>")
    try:
        return ApiKey.get(hash_key(key)).user_id
    except ApiKey.DoesNotExist:
        raise UnauthorizedError("unknown API key") from None
