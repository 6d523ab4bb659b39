"""`make run`'s stack end to end: capture one of its own samples over HTTP with the API key,
wait for `ready`, and check the stored object with a probe."""

from __future__ import annotations

import time

import pytest
import requests

from chalicelib import aws
from chalicelib.media.probe import probe
from tests.e2e.conftest import wait_for
from tests.webhook_receiver import verified

pytestmark = pytest.mark.e2e


def wait_for_job(stack: dict, job_id: str, timeout: float = 60) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        job = requests.get(f"{stack['api_url']}/api/jobs/{job_id}", timeout=5,
                           headers={"Authorization": f"Bearer {stack['api_key']}"}).json()
        if job["status"] in ("succeeded", "failed"):
            return job
        time.sleep(0.2)
    raise AssertionError(f"job {job_id} did not finish within {timeout} s")


def test_stack_is_healthy_and_seeded(local_stack):
    health = requests.get(f"{local_stack['api_url']}/api/health", timeout=5)
    assert health.status_code == 200 and health.json()["healthy"] is True
    assert local_stack["api_key"].startswith("prsnl_")
    assert all(url.startswith("http://127.0.0.1:") for url in local_stack["samples"])


def test_sample_capture_becomes_ready_mp4_in_s3(stack_aws_env, tmp_path):
    stack = stack_aws_env
    sample = stack["samples"][0]
    response = requests.post(f"{stack['api_url']}/api/capture", json={"url": sample}, timeout=10,
                             headers={"Authorization": f"Bearer {stack['api_key']}"})
    assert response.status_code == 202, response.text
    job = wait_for_job(stack, response.json()["job_id"])
    assert job["status"] == "succeeded", job
    video = requests.get(f"{stack['api_url']}/api/videos/{job['video_id']}", timeout=5,
                         headers={"Authorization": f"Bearer {stack['api_key']}"}).json()
    assert video["status"] == "ready"
    stored = tmp_path / "stored.mp4"
    aws.client("s3").download_file(stack["bucket"], video["file_key"], str(stored))
    source = tmp_path / "source.mp4"
    source.write_bytes(requests.get(sample, timeout=10).content)
    info = probe(stored)
    assert info.format_name.startswith("mov") and info.video.codec == "h264"
    assert info.duration == pytest.approx(probe(source).duration, abs=0.1)


def test_the_worker_sends_signed_events_to_the_webhook(local_stack):
    # GIVEN the stack started with PRSNL_WEBHOOK_URL (a receiver on loopback) and its secret
    stack, auth = local_stack, {"Authorization": f"Bearer {local_stack['api_key']}"}
    # WHEN a sample is captured and then deleted
    response = requests.post(f"{stack['api_url']}/api/capture", json={"url": stack["samples"][0] + "?for=events"},
                             timeout=10, headers=auth)
    assert response.status_code == 202, response.text
    job = wait_for_job(stack, response.json()["job_id"])
    assert job["status"] == "succeeded", job
    assert requests.delete(f"{stack['api_url']}/api/videos/{job['video_id']}", headers=auth,
                           timeout=10).status_code == 204
    # THEN the receiver got a signed video.ready and a video.deleted for it
    def for_video():
        payloads = [verified(requests_[0]) for requests_ in stack["webhook"].by_id().values()]
        return sorted(p["type"] for p in payloads if p["data"]["video_id"] == job["video_id"])

    assert wait_for(lambda: len(for_video()) == 2 and for_video(), timeout=60,
                    what="the events") == ["video.deleted", "video.ready"]


def test_requests_without_key_are_refused(local_stack):
    response = requests.post(f"{local_stack['api_url']}/api/capture", json={"url": local_stack["samples"][0]},
                             timeout=5)
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "unauthorized"
