"""The JSON API as a test calls it through chalice's test client: a capture, a read, a rendition, a ready capture."""

from __future__ import annotations

import json


def capture(client, user, url: str, **extra):
    return client.http.post("/api/capture", headers=user.headers, body=json.dumps({"url": url, **extra}))


def get(client, user, path: str, **headers):
    return client.http.get(path, headers={**user.headers, **headers})


def transcode(client, user, video_id: str, quality: str):
    """A rendition asked for."""
    return client.http.post(f"/api/videos/{video_id}/transcode", headers=user.headers,
                            body=json.dumps({"quality": quality}))


def captured_ready(client, user, drain, url: str, **extra) -> dict:
    """A link captured and run through the real worker; the ready video as the API answers it."""
    body = capture(client, user, url, **extra).json_body
    assert drain() == 1
    video = get(client, user, f"/api/videos/{body['video_id']}").json_body
    assert video["status"] == "ready", video
    return video
