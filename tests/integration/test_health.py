"""GET /api/health (cheap, anyone) and GET /api/health/deep (admins): each part checked against moto,
failing parts named in a 503, and healthy again once the missing resource is back."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest

from chalicelib import aws, wiring
from chalicelib.config import get_settings
from chalicelib.local.bootstrap import bootstrap
from chalicelib.ops import health
from chalicelib.records import jobs
from chalicelib.records.models import Job
from tests.conftest import seed_user

DEEP = "/api/health/deep"


@pytest.fixture
def admin(mocked_aws):
    return seed_user("root", is_admin=True)


def deep(client, admin):
    return client.http.get(DEEP, headers=admin.headers)


def test_cheap_health_needs_no_key_and_names_no_failure(client):
    response = client.http.get("/api/health")
    assert response.status_code == 200
    assert response.json_body["healthy"] is True and response.json_body["failing"] == []


def test_deep_health_is_for_admins_only(client, user):
    assert client.http.get(DEEP).status_code == 401
    response = client.http.get(DEEP, headers=user.headers)
    assert response.status_code == 403 and response.json_body["error"]["code"] == "forbidden"


def test_deep_health_reports_every_part_and_the_workers_tools(client, admin, user, drain, media_server,
                                                              settings_env):
    # GIVEN a capture the worker ran, and one message waiting in the DLQ
    settings_env(PRSNL_ALLOW_LOOPBACK_URLS="true")
    body = json.dumps({"url": media_server.url("files", "clip.mp4")})
    assert client.http.post("/api/capture", headers=user.headers, body=body).status_code == 202
    assert drain() == 1
    sqs = aws.client("sqs")
    sqs.send_message(QueueUrl=sqs.get_queue_url(QueueName=get_settings().jobs_dlq)["QueueUrl"], MessageBody="{}")
    # WHEN an admin asks for the deep check
    response = deep(client, admin)
    # THEN every part answered, with its figures
    assert response.status_code == 200, response.json_body
    checks = response.json_body["checks"]
    assert set(checks) == {"s3", "dynamodb", "sqs", "dlq", "backlog", "worker"}
    assert all(part["ok"] for part in checks.values())
    assert checks["sqs"]["visible"] == 0 and checks["dlq"]["visible"] == 1
    assert checks["backlog"]["oldest_queued_seconds"] is None
    # AND the worker's heartbeat says when it ran and with which ffmpeg and yt-dlp
    worker = checks["worker"]
    assert 0 <= worker["seen_seconds_ago"] < 60
    assert worker["versions"]["ffmpeg"] and worker["versions"]["yt_dlp"].startswith("20")
    # AND what its yt-dlp reaches the platforms with: a JS runtime, and Chrome and Safari behind the guard
    access = worker["platform_access"]
    assert access["yt_dlp"] == worker["versions"]["yt_dlp"]
    assert any(runtime.startswith("deno ") for runtime in access["js_runtimes"])
    assert {target.split("-")[0] for target in access["impersonate_targets"]} >= {"chrome", "safari"}


def test_deep_health_is_503_while_the_queue_is_gone_and_200_once_it_is_back(client, admin, mocked_aws):
    aws.client("sqs").delete_queue(QueueUrl=mocked_aws["jobs"])
    response = deep(client, admin)
    assert response.status_code == 503
    assert response.json_body["failing"] == ["sqs"]
    assert response.json_body["checks"]["sqs"]["error"]
    bootstrap(get_settings())
    assert deep(client, admin).status_code == 200


def test_deep_health_is_503_while_a_table_is_gone_and_200_once_it_is_back(client, admin):
    Job.delete_table()
    response = deep(client, admin)
    assert response.status_code == 503
    assert response.json_body["failing"] == ["dynamodb", "backlog"]
    assert response.json_body["checks"]["dynamodb"]["error"].startswith(f"table {get_settings().jobs_table}:")
    bootstrap(get_settings())
    assert deep(client, admin).status_code == 200


def test_deep_health_blames_the_worker_when_work_waits_and_it_has_not_run_since(client, admin):
    # GIVEN a job queued 20 minutes ago and no heartbeat since
    now = wiring.services().clock.now()
    jobs.new_job("old-job", video_id="v", owner_id="root", kind="capture", now=now - timedelta(minutes=20)).save()
    response = deep(client, admin)
    assert response.status_code == 503 and response.json_body["failing"] == ["worker"]
    assert response.json_body["checks"]["backlog"]["oldest_queued_seconds"] == pytest.approx(1200, abs=30)
    assert "waited" in response.json_body["checks"]["worker"]["error"]
    # WHEN the worker runs (its heartbeat) the backlog is its load, not an outage
    health.beat(wiring.services())
    response = deep(client, admin)
    assert response.status_code == 200
    assert response.json_body["checks"]["worker"]["seen_seconds_ago"] < 60


def test_deep_health_warns_when_the_workers_yt_dlp_is_older_than_the_setting(client, admin, user, drain,
                                                                             media_server, settings_env):
    # GIVEN a worker that ran, and a setting that finds its yt-dlp too old
    settings_env(PRSNL_ALLOW_LOOPBACK_URLS="true", PRSNL_YTDLP_MAX_AGE_DAYS="0")
    body = json.dumps({"url": media_server.url("files", "clip.mp4")})
    assert client.http.post("/api/capture", headers=user.headers, body=body).status_code == 202
    drain()
    # WHEN an admin asks for the deep check
    response = deep(client, admin)
    # THEN it is healthy, with a warning that says what to do
    assert response.status_code == 200
    (warning,) = response.json_body["warnings"]
    assert "days old (over 0)" in warning and "make update-yt-dlp" in warning
