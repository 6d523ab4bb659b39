"""Search and edit through the real app on moto: every word must match the title, uploader, tags or note
(case-insensitive), ``tag`` filters, pages resume with the cursor, PATCH edits title, tags and note, and an
unknown query parameter is a 400 that names it. Speed at 1,000 videos: bench/search.py."""

from __future__ import annotations

import json

import pytest

from chalicelib import wiring
from chalicelib.records.models import Video
from tests.api_calls import capture, get


@pytest.fixture(autouse=True)
def loopback_allowed(settings_env):
    settings_env(PRSNL_ALLOW_LOOPBACK_URLS="true")


def found(client, user, query: str) -> list[str]:
    response = get(client, user, f"/api/videos?{query}")
    assert response.status_code == 200, response.json_body
    return [video["title"] for video in response.json_body["videos"]]


@pytest.fixture
def library(client, user, media_server) -> None:
    for n, (title, tags, note) in enumerate([
            ("Sourdough basics", ["Baking", "bread"], "starter at 75% hydration"),
            ("Knife skills", ["cooking"], None),
            ("Rye bread at home", ["baking"], "from the Nordic book")]):
        capture(client, user, media_server.url("files", f"clip.mp4?n={n}"), title=title, tags=tags, note=note)
    now = wiring.services().clock.now()
    Video("uploaded", owner_id=user.user_id, created_at=now, updated_at=now, status="ready", source_url="u",
          canonical_url="u", owner_source="o", platform="youtube", title="Untitled",
          platform_meta={"uploader": "Claire Saffitz"}).save()


def test_every_word_must_match_title_uploader_tags_or_note(client, user, library):
    assert found(client, user, "q=BREAD") == ["Rye bread at home", "Sourdough basics"]
    assert found(client, user, "q=bread+nordic") == ["Rye bread at home"]
    assert found(client, user, "q=hydration") == ["Sourdough basics"]
    assert found(client, user, "q=saffitz") == ["Untitled"]
    assert found(client, user, "q=bread+knife") == []
    assert found(client, user, "tag=baking") == ["Rye bread at home", "Sourdough basics"]
    assert found(client, user, "tag=bread&q=rye") == []
    assert found(client, user, "q=bread&status=queued") == ["Rye bread at home", "Sourdough basics"]


def test_search_pages_resume_after_the_last_match(client, user, library, other_user):
    first = get(client, user, "/api/videos?q=bread&limit=1").json_body
    assert [v["title"] for v in first["videos"]] == ["Rye bread at home"] and first["next_cursor"]
    second = get(client, user, f"/api/videos?q=bread&limit=1&cursor={first['next_cursor']}").json_body
    assert [v["title"] for v in second["videos"]] == ["Sourdough basics"]
    assert found(client, other_user, "q=bread") == []


def test_unknown_query_parameters_are_named_in_a_400(client, user):
    response = get(client, user, "/api/videos?query=bread&sort=new")
    assert response.status_code == 400
    error = response.json_body["error"]
    assert error["code"] == "unknown_parameter" and "query, sort" in error["message"] and "q" in error["message"]


def test_patch_edits_title_tags_and_note(client, user, other_user, media_server):
    video_id = capture(client, user, media_server.url("files", "clip.mp4"), title="Old", note="n").json_body[
        "video_id"]

    def patch(body, who=user):
        return client.http.patch(f"/api/videos/{video_id}", headers=who.headers, body=json.dumps(body))

    edited = patch({"title": " New title ", "tags": ["Film", "later"], "note": None})
    assert edited.status_code == 200
    assert (edited.json_body["title"], edited.json_body["tags"]) == ("New title", ["Film", "later"])
    assert "note" not in get(client, user, f"/api/videos/{video_id}").json_body
    assert found(client, user, "q=new+film") == ["New title"]
    for body, code in [({}, "invalid_edit"), ({"status": "ready"}, "invalid_edit"), ({"tags": "x"}, "invalid_tags"),
                       ({"title": 3}, "invalid_title")]:
        refused = patch(body)
        assert refused.status_code == 400 and refused.json_body["error"]["code"] == code, body
    assert patch({"title": "mine"}, who=other_user).status_code == 404
    assert get(client, user, f"/api/videos/{video_id}").json_body["title"] == "New title"
