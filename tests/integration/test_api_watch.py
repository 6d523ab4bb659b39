"""Watch links through the real app on moto, for videos made by the real worker: the page plays without any
header, its video and poster routes redirect to fresh signed URLs, and the owner revokes a link by sharing
again. Browsers playing it for real: tests/browser/test_web_library.py."""

from __future__ import annotations

import json
from datetime import timedelta
from urllib.parse import parse_qs, unquote, urlsplit

import pytest

from chalicelib import wiring
from tests.api_calls import capture, get
from tests.fakes import FakeClock


@pytest.fixture
def video(client, user, ready_clip) -> dict:
    """The ready clip, renamed with a character a file name cannot hold."""
    path = f"/api/videos/{ready_clip['video_id']}"
    return client.http.patch(path, headers=user.headers, body=json.dumps({"title": "Four-eighty / test"})).json_body


def path_of(watch_url: str) -> str:
    parts = urlsplit(watch_url)
    assert parts.scheme == "http" and parts.netloc == "127.0.0.1:8000", watch_url
    return parts.path


def redirect_key(response) -> tuple[str, dict]:
    """The S3 key and query of a 302 to a presigned URL."""
    assert response.status_code == 302, response.body
    assert response.headers["Cache-Control"] == "no-store"
    location = urlsplit(response.headers["Location"])
    query = parse_qs(location.query)
    assert "X-Amz-Signature" in query and query["X-Amz-Expires"] == ["300"]
    bucket = wiring.services().settings.bucket
    return unquote(location.path.lstrip("/")).removeprefix(f"{bucket}/"), query


def test_a_ready_video_has_a_watch_page_that_needs_no_header(client, video):
    # GIVEN a ready video: its record carries an absolute watch link
    page_path = path_of(video["watch_url"])
    assert page_path.startswith("/watch/")
    # WHEN the page is opened without any header
    page = client.http.get(page_path)
    # THEN it is a small HTML page with the player, the poster, the facts and the chat preview tags
    assert page.status_code == 200 and page.headers["Content-Type"].startswith("text/html")
    html = page.body.decode()
    assert '<video id="player" controls playsinline preload="metadata"' in html
    assert "<title>Four-eighty / test</title>" in html and "0:01" in html
    for tag in ("og:video", "og:image", "og:title", "twitter:card"):
        assert f'property="{tag}"' in html or f'name="{tag}"' in html, tag
    assert f'src="{video["watch_url"]}/video"' in html and f'poster="{video["watch_url"]}/poster"' in html
    # AND a link that came back from a chat with a tracker appended still opens
    assert client.http.get(f"{page_path}?fbclid=IwAR0").status_code == 200


def test_the_video_and_poster_routes_redirect_to_fresh_signed_urls(client, video):
    page_path = path_of(video["watch_url"])
    key, query = redirect_key(client.http.get(f"{page_path}/video"))
    assert key == video["file_key"] and "response-content-disposition" not in query
    key, query = redirect_key(client.http.get(f"{page_path}/video?download=1"))
    assert query["response-content-disposition"] == ["attachment; filename*=UTF-8''Four-eighty%20_%20test.mp4"]
    key, _ = redirect_key(client.http.get(f"{page_path}/poster"))
    assert key == video["thumbnails"]["large"]
    refused = client.http.get(f"{page_path}/video?quality=4k&autoplay=1")
    assert refused.status_code == 400 and "autoplay" in refused.json_body["error"]["message"]


def test_renditions_are_offered_on_the_page_and_served_by_quality(client, user, video, drain):
    client.http.post(f"/api/videos/{video['video_id']}/transcode", headers=user.headers,
                     body=json.dumps({"quality": "360p"}))
    assert drain() == 1
    page_path = path_of(video["watch_url"])
    assert '<option value="' + video["watch_url"] + '/video?quality=360p">360p</option>' in \
        client.http.get(page_path).body.decode()
    key, _ = redirect_key(client.http.get(f"{page_path}/video?quality=360p"))
    assert key == get(client, user, f"/api/videos/{video['video_id']}").json_body["renditions"]["360p"]["key"]


def test_listing_and_capture_answers_carry_the_watch_link_once_ready(client, user, video, media_server):
    queued = capture(client, user, media_server.url("files", "clip.mp4?later=1")).json_body
    assert queued["video"]["watch_url"] is None
    listed = {v["video_id"]: v["watch_url"] for v in get(client, user, "/api/videos").json_body["videos"]}
    assert listed == {queued["video_id"]: None, video["video_id"]: video["watch_url"]}


def test_sharing_again_revokes_the_old_link(client, user, other_user, video):
    # WHEN the owner shares the video again
    shared = client.http.post(f"/api/videos/{video['video_id']}/share", headers=user.headers)
    # THEN there is a new link that plays, and the old one answers 404 in the API's error shape
    assert shared.status_code == 200
    new_url = shared.json_body["watch_url"]
    assert new_url != video["watch_url"]
    assert client.http.get(path_of(new_url)).status_code == 200
    for path in (path_of(video["watch_url"]), path_of(video["watch_url"]) + "/video"):
        old = client.http.get(path)
        assert old.status_code == 404 and old.json_body["error"]["code"] == "not_found"
    assert get(client, user, f"/api/videos/{video['video_id']}").json_body["watch_url"] == new_url
    # AND nobody else can rotate it
    assert client.http.post(f"/api/videos/{video['video_id']}/share",
                            headers=other_user.headers).status_code == 404


def test_forged_expired_and_deleted_links_answer_404(client, user, video, settings_env):
    page_path = path_of(video["watch_url"])
    payload, signature = page_path.removeprefix("/watch/").split(".")
    for forged in (f"{payload}.{signature[:-2]}AA", f"{payload}A.{signature}", "nothing", f".{signature}"):
        assert client.http.get(f"/watch/{forged}").status_code == 404, forged
    # a link with a lifetime stops at its end
    settings_env(PRSNL_WATCH_LINK_SECONDS="60")
    timed = get(client, user, f"/api/videos/{video['video_id']}").json_body["watch_url"]
    assert client.http.get(path_of(timed)).status_code == 200
    wiring.override(clock=FakeClock(later=timedelta(seconds=61)))
    assert client.http.get(path_of(timed)).status_code == 404
    wiring.override(clock=FakeClock())
    client.http.delete(f"/api/videos/{video['video_id']}", headers=user.headers)
    assert client.http.get(page_path).status_code == 404
