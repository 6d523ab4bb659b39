"""Captures under load on `make run`'s stack: 20 clients at once while the worker holds 10 slow captures. Every
capture is accepted and recorded, and none meets a server error (no timing is asserted: bench/api.py times it)."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import pytest
import requests

pytestmark = pytest.mark.e2e

CLIENTS, PER_CLIENT, BUSY_JOBS = 20, 3, 10


def post_capture(stack: dict, session: requests.Session, url: str) -> requests.Response:
    return session.post(stack["api_url"] + "/api/capture", json={"url": url}, timeout=120,
                        headers={"Authorization": f"Bearer {stack['api_key']}"})


def test_every_capture_is_accepted_and_recorded_when_20_clients_post_while_10_jobs_run(local_stack):
    # GIVEN a worker busy with 10 captures of samples served at 40 kB/s
    busy = requests.Session()
    for n in range(BUSY_JOBS):
        sample = local_stack["samples"][n % len(local_stack["samples"])].replace("/files/", "/slow/")
        assert post_capture(local_stack, busy, f"{sample}?bps=40000&load={n}").status_code == 202
    # WHEN 20 clients each post captures of distinct links at the same time
    base = local_stack["samples"][0].split("/files/")[0] + "/fail"
    sessions = [requests.Session() for _ in range(CLIENTS)]

    def client(index: int) -> list[requests.Response]:
        return [post_capture(local_stack, sessions[index], f"{base}/load-{index}-{n}.mp4") for n in range(PER_CLIENT)]

    with ThreadPoolExecutor(max_workers=CLIENTS) as pool:
        answers = [answer for answers in pool.map(client, range(CLIENTS)) for answer in answers]
    # THEN every one was accepted as a new capture, none with a server error
    refused = [(a.status_code, a.text) for a in answers if a.status_code != 202]
    assert not refused, refused
    assert all(answer.json()["created"] for answer in answers)
    # AND each is recorded: its video answers, under its own id
    ids = {answer.json()["video_id"] for answer in answers}
    assert len(ids) == CLIENTS * PER_CLIENT
    for video_id in ids:
        assert busy.get(f"{local_stack['api_url']}/api/videos/{video_id}", timeout=60,
                        headers={"Authorization": f"Bearer {local_stack['api_key']}"}).status_code == 200
