"""The same adapters reach a moto server over HTTP through AWS_ENDPOINT_URL alone (no test-only code path)."""

from __future__ import annotations

from chalicelib import wiring
from chalicelib.records import jobs


def test_queue_and_tables_work_through_the_moto_server(aws_server):
    services = wiring.services()
    assert services.settings.aws_endpoint_url.startswith("http://127.0.0.1:")
    services.queue.send(jobs.JobMessage("job-1", "video-1", "alice"))
    received = services.queue.receive(wait_seconds=0)
    assert [jobs.JobMessage.from_json(m["Body"]).job_id for m in received] == ["job-1"]
    assert services.queue.url == aws_server["jobs"]


def test_server_state_is_reset_between_tests(aws_server):
    assert wiring.services().queue.receive(wait_seconds=0) == []
