"""The same adapters reach a moto server over HTTP through AWS_ENDPOINT_URL alone (no test-only code path)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from pynamodb.exceptions import TransactWriteError

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


def test_a_cancelled_transaction_leaves_every_table_as_it_was_when_its_last_condition_fails(aws_server):
    # GIVEN a user, and another user the transaction does not name
    from chalicelib.records import users
    from chalicelib.records.models import User, transact

    now = datetime(2026, 12, 1, tzinfo=UTC)
    for user_id in ("alice", "bob"):
        users.create_user(user_id, name=user_id, quota_bytes=100, now=now)
    alice = User.get("alice")
    newcomer = User("carol", name="carol", quota_bytes=1, bytes_available=1, created_at=now)
    # WHEN a transaction adds a user and changes alice, then fails on alice's condition
    with pytest.raises(TransactWriteError):
        transact(saves=(newcomer,), updates=(
            (alice, [User.name.set("changed")], User.name == "alice"),
            (User.get("bob"), [User.quota_bytes.set(5)], User.quota_bytes == 0)))
    # THEN no write of it stays (moto rolls back from its copy of the touched items), the rest is as it was
    assert sorted(user.user_id for user in User.scan()) == ["alice", "bob"]
    assert (User.get("alice").name, User.get("bob").quota_bytes) == ("alice", 100)
    # AND a transaction whose conditions hold writes all of it
    transact(saves=(newcomer,), updates=((User.get("alice"), [User.name.set("changed")], User.name == "alice"),))
    assert (User.get("carol").quota_bytes, User.get("alice").name) == (1, "changed")
