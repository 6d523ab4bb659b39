"""The same adapters reach a moto server over HTTP through AWS_ENDPOINT_URL alone (no test-only code path); moto, in
process as served, has DynamoDB's atomicity (``make_writes_atomic``)."""

from __future__ import annotations

import base64
import os
import zlib
from datetime import UTC, datetime

import pytest
from pynamodb.exceptions import TransactWriteError

from chalicelib import aws, wiring
from chalicelib.records import jobs

WRITES_BESIDE_READS = 100
ATTRIBUTES = 300


def test_queue_and_tables_work_through_the_moto_server(aws_server):
    services = wiring.services()
    assert services.settings.aws_endpoint_url.startswith("http://127.0.0.1:")
    services.queue.send(jobs.JobMessage("job-1", "video-1", "alice"))
    received = services.queue.receive(wait_seconds=0)
    assert [jobs.JobMessage.from_json(m["Body"]).job_id for m in received] == ["job-1"]
    assert services.queue.url == aws_server["jobs"]


def test_an_upload_over_http_carries_its_crc32_and_is_not_hashed_for_the_signature(aws_server, tmp_path):
    s3, storage = aws.client("s3"), wiring.services().storage
    sent = []
    s3.meta.events.register("before-send.s3.PutObject", lambda request, **_: sent.append(request.headers))
    body = os.urandom(3 * 1024 * 1024)
    (tmp_path / "clip.mp4").write_bytes(body)
    assert storage.put_file(tmp_path / "clip.mp4", "videos/clip.mp4") == len(body)
    [headers] = sent
    assert headers["X-Amz-Content-SHA256"] == b"UNSIGNED-PAYLOAD"
    assert base64.b64decode(headers["x-amz-checksum-crc32"]) == zlib.crc32(body).to_bytes(4, "big")
    assert s3.get_object(Bucket=storage.bucket, Key="videos/clip.mp4")["Body"].read() == body


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


def test_reads_beside_writes_to_the_same_item_answer_whole_items(mocked_aws):
    # GIVEN a wide record that a worker keeps changing, adding and removing an attribute each time (moto changes
    # the item's dict in place, where its reads copy it), with threads switching as often as they can
    import sys
    import threading

    from chalicelib import aws
    from chalicelib.records.models import User

    table, key, dynamodb = User.Meta.table_name, {"user_id": {"S": "alice"}}, aws.client("dynamodb")
    padding = {f"padding{n}": {"S": "x"} for n in range(ATTRIBUTES)}  # a long copy: a wide window for the race
    dynamodb.put_item(TableName=table, Item={**key, "name": {"S": "alice"}, **padding})
    done, failures, switch_interval = threading.Event(), [], sys.getswitchinterval()

    def write():
        try:
            for n in range(1, WRITES_BESIDE_READS + 1):
                dynamodb.update_item(TableName=table, Key=key, UpdateExpression=f"SET note{n} = :n REMOVE note{n - 1}",
                                     ExpressionAttributeValues={":n": {"N": str(n)}})
        finally:
            done.set()

    def read():
        while not done.is_set():
            try:
                scanned = dynamodb.scan(TableName=table)["Items"]
                got = dynamodb.get_item(TableName=table, Key=key)["Item"]
                assert [item["name"]["S"] for item in scanned] == ["alice"] and got["name"]["S"] == "alice"
            except Exception as failure:  # the read's own error, reported below
                failures.append(failure)
                return

    # WHEN readers scan and get that item while it is written
    threads = [threading.Thread(target=write), *(threading.Thread(target=read) for _ in range(2))]
    sys.setswitchinterval(1e-5)
    try:
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(120)
    finally:
        sys.setswitchinterval(switch_interval)
    # THEN every read answered the whole item (moto's copy of it never meets a write half-way)
    assert done.is_set() and failures == []
    last = dynamodb.get_item(TableName=table, Key=key)["Item"]
    assert last[f"note{WRITES_BESIDE_READS}"] == {"N": str(WRITES_BESIDE_READS)} and "note1" not in last


def test_the_servers_moto_frees_an_upload_when_it_answers_not_at_a_full_collection(mocked_aws):
    # GIVEN moto's app as the local stack's server builds it, and the collector off (as it nearly is in that server)
    import gc

    from moto.moto_server.werkzeug_app import BackendRequest, DomainDispatcherApplication, create_backend_app
    from werkzeug.test import Client

    from chalicelib.local.moto_server import without_debug

    signed = {"Authorization": "AWS4-HMAC-SHA256 Credential=test/20261204/us-east-1/s3/aws4_request, "
                               "SignedHeaders=host, Signature=0"}
    client = Client(DomainDispatcherApplication(without_debug(create_backend_app)))
    assert client.put("/freed-uploads", headers=signed).status_code == 200
    gc.collect()
    gc.disable()
    try:
        # WHEN a file is uploaded
        answer = client.put("/freed-uploads/clip.mp4", data=b"x" * 1024 * 1024, headers=signed)
        # THEN it is stored, and no request of it is left for the collector (Flask's debug mode tied each one in a
        # cycle with a class of its own, body and all)
        assert answer.status_code == 200 and answer.headers["ETag"] == '"b561f87202d04959e37588ee05cf5b10"'
        assert not any(isinstance(o, BackendRequest) for o in gc.get_objects())
    finally:
        gc.enable()
