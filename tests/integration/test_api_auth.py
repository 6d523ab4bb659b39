"""API keys and ownership through the real app on moto: every route that takes an id answers another
user's id exactly as a missing one, and keys can be listed, revoked and replaced."""

from __future__ import annotations

import json

import pytest

from chalicelib import wiring
from chalicelib.records import apikeys, users
from chalicelib.records.models import User, Video

ID_ROUTES = [
    ("GET", "/api/videos/{video}"),
    ("DELETE", "/api/videos/{video}"),
    ("GET", "/api/videos/{video}/metadata"),
    ("GET", "/api/videos/{video}/stream"),
    ("GET", "/api/videos/{video}/thumbnail"),
    ("POST", "/api/videos/{video}/transcode"),
    ("GET", "/api/jobs/{job}"),
]
AUTHENTICATED = [("GET", "/api/videos"), ("POST", "/api/capture"), ("GET", "/api/storage/stats"),
                 ("GET", "/api/admin/storage/stats"), *ID_ROUTES]


@pytest.fixture
def owned(client, user, settings_env, media_server) -> dict:
    """A video and its job belonging to ``user``."""
    settings_env(PRSNL_ALLOW_LOOPBACK_URLS="true")
    response = client.http.post("/api/capture", headers=user.headers,
                                body=json.dumps({"url": media_server.url("files", "clip.mp4")}))
    return response.json_body


def call(client, method: str, path: str, headers: dict):
    return client.http.request(method, path, headers=headers, body=json.dumps({"quality": "360p"}))


def test_another_users_id_answers_exactly_like_a_missing_one(client, user, other_user, owned):
    for method, route in ID_ROUTES:
        # WHEN bob uses alice's ids, and ids that do not exist
        theirs = call(client, method, route.format(video=owned["video_id"], job=owned["job_id"]), other_user.headers)
        missing = call(client, method, route.format(video="no-such-id", job="no-such-id"), other_user.headers)
        # THEN both are the same 404, saying nothing of whose it is
        assert theirs.status_code == missing.status_code == 404, route
        assert theirs.json_body["error"]["code"] == missing.json_body["error"]["code"] == "not_found"
        assert theirs.json_body["error"]["message"].replace(owned["video_id"], "X").replace(owned["job_id"], "X") \
            == missing.json_body["error"]["message"].replace("no-such-id", "X")
    # AND alice's video is untouched
    assert Video.get(owned["video_id"]).owner_id == user.user_id


def test_routes_need_a_valid_key(client, mocked_aws):
    for method, route in AUTHENTICATED:
        for header in (None, "Bearer", "Basic abc", "Bearer prsnl_unknown"):
            response = call(client, method, route.format(video="v", job="j"),
                            {"Authorization": header} if header else {})
            assert response.status_code == 401, (route, header)
            assert response.json_body["error"]["code"] == "unauthorized"


def test_revoked_key_stops_working_and_a_new_one_works(client, user):
    # GIVEN a second key for alice
    now = wiring.services().clock.now()
    second = apikeys.issue_key(user.user_id, now=now, label="laptop")
    assert {k.label for k in apikeys.list_keys(user.user_id)} == {None, "laptop"}
    # WHEN the first is revoked by its value and the second by its hash
    assert apikeys.revoke_key(user.api_key) is True
    assert apikeys.revoke_key(user.api_key) is False
    # THEN the first answers 401 and the second still works, until it is revoked too
    assert client.http.get("/api/videos", headers=user.headers).status_code == 401
    headers = {"Authorization": f"Bearer {second}"}
    assert client.http.get("/api/videos", headers=headers).status_code == 200
    assert apikeys.revoke_key(apikeys.hash_key(second)) is True
    assert client.http.get("/api/videos", headers=headers).status_code == 401
    assert apikeys.list_keys(user.user_id) == []


def test_keys_are_stored_only_as_hashes(user):
    from chalicelib.records.models import ApiKey

    stored = [key.attribute_values for key in ApiKey.scan()]
    assert stored and all(user.api_key not in json.dumps(item, default=str) for item in stored)
    assert stored[0]["key_hash"] == apikeys.hash_key(user.api_key)


def test_quota_change_moves_what_is_available(user):
    from chalicelib.records import quotas

    quotas.reserve(user.user_id, 100)
    users.set_quota(user.user_id, 1000)
    owner = User.get(user.user_id)
    assert (owner.quota_bytes, owner.bytes_reserved, owner.bytes_available) == (1000, 100, 900)
    users.set_quota(user.user_id, 50)
    assert User.get(user.user_id).bytes_available == -50  # over quota: nothing more fits until bytes go


def test_admin_flag_opens_the_admin_stats(client, user):
    assert client.http.get("/api/admin/storage/stats", headers=user.headers).status_code == 403
    users.set_admin(user.user_id, True)
    assert client.http.get("/api/admin/storage/stats", headers=user.headers).status_code == 200
