"""API key parsing and hashing: pure functions, no AWS."""

from __future__ import annotations

import pytest

from chalicelib.api.http import bearer_token
from chalicelib.records import apikeys


@pytest.mark.parametrize("header, token", [
    ("Bearer prsnl_abc", "prsnl_abc"),
    ("bearer   prsnl_abc  ", "prsnl_abc"),
    ("Bearer", None),
    ("Bearer   ", None),
    ("Basic dXNlcjpwYXNz", None),
    ("prsnl_abc", None),
    ("", None),
    (None, None),
])
def test_bearer_token_is_read_only_from_a_bearer_header(header, token):
    assert bearer_token(header) == token


def test_keys_are_hashed_with_sha256_and_never_kept():
    key = "prsnl_" + "x" * 43
    digest = apikeys.hash_key(key)
    assert digest == apikeys.hash_key(key) and len(digest) == 64 and key not in digest
    assert apikeys.hash_key(key + "y") != digest


def test_missing_key_is_unauthorized_before_any_lookup():
    with pytest.raises(apikeys.UnauthorizedError) as error:
        apikeys.user_for_key(None)
    assert error.value.code == "unauthorized" and error.value.http_status == 401
