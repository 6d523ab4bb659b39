"""What `make run` reads of its moto server: a save pass writes the tables as of one moment, while writes go on
(a transaction that changes two tables is saved in both or in neither: a reservation saved on the job but not on
the user came back after a `kill -9` as a negative reservation), it and the console read only what was
written since their last look, and its quick item reads give back every attribute type as written."""

from __future__ import annotations

import json
import threading
from datetime import UTC, datetime, timedelta

import pytest

from chalicelib import aws
from chalicelib.config import load_settings
from chalicelib.local import console, persist
from chalicelib.local.bootstrap import bootstrap
from chalicelib.local.moto_server import fetch_snapshot
from chalicelib.local.stack import free_port, local_environment, start_moto
from chalicelib.records import jobs
from chalicelib.records.models import Job, User
from tests.conftest import reset_caches

PASSES = 25


@pytest.fixture
def shared_moto(tmp_path, monkeypatch):
    """The stack's moto server process, with the stack's tables."""
    port = free_port()
    for name, value in local_environment(port).items():
        monkeypatch.setenv(name, value)
    reset_caches()
    process = start_moto(port)
    settings = load_settings()
    bootstrap(settings)
    yield settings
    process.terminate()
    process.wait(timeout=10)


def transactions(stop: threading.Event, count: list) -> None:
    """The same counter written to a user and a job in one transaction, again and again."""
    client = aws.client("dynamodb")
    while not stop.is_set():
        count[0] += 1
        client.transact_write_items(TransactItems=[
            {"Put": {"TableName": User.Meta.table_name, "Item": {"user_id": {"S": "u"}, "n": {"N": str(count[0])}}}},
            {"Put": {"TableName": Job.Meta.table_name, "Item": {"job_id": {"S": "j"}, "n": {"N": str(count[0])}}}},
        ])


def saved_counter(data, model) -> str | None:
    text = (data / "tables" / f"{model.__name__}.jsonl").read_text()
    return json.loads(text)["n"]["N"] if text else None


def test_every_pass_saves_both_halves_of_each_transaction(shared_moto, tmp_path):
    stop, count = threading.Event(), [0]
    writer = threading.Thread(target=transactions, args=(stop, count))
    writer.start()
    try:
        seen = []
        while len(seen) < PASSES:
            persist.save(tmp_path, shared_moto)
            seen.append((saved_counter(tmp_path, User), saved_counter(tmp_path, Job)))
    finally:
        stop.set()
        writer.join(timeout=60)
    assert all(user == job for user, job in seen), seen
    assert len({user for user, _ in seen}) > 1, "the writes went on between the passes"


def test_a_pass_scans_again_only_the_tables_written_since_the_last(shared_moto, tmp_path):
    client = aws.client("dynamodb")
    client.put_item(TableName=User.Meta.table_name, Item={"user_id": {"S": "u"}, "n": {"N": "1"}})
    client.put_item(TableName=Job.Meta.table_name, Item={"job_id": {"S": "j"}, "n": {"N": "1"}})
    first = persist.save(tmp_path, shared_moto)
    assert first.items == 2
    # WHEN nothing is written: THEN the next pass reads no table
    assert persist.save(tmp_path, shared_moto, since=first.writes).items == 0
    # WHEN one table is written in a transaction: THEN only that one is read again
    client.transact_write_items(TransactItems=[
        {"Put": {"TableName": User.Meta.table_name, "Item": {"user_id": {"S": "u"}, "n": {"N": "2"}}}}])
    again = persist.save(tmp_path, shared_moto, since=first.writes)
    assert again.items == 1 and saved_counter(tmp_path, User) == "2" and saved_counter(tmp_path, Job) == "1"
    # AND a pass that does not know what the last one saw reads every table
    assert persist.save(tmp_path, shared_moto).items == 2


def test_the_consoles_look_queries_the_jobs_only_after_they_were_written(shared_moto):
    # GIVEN the console's job events, told the moto server's write counts as the stack tells them
    client = Job._get_connection().connection.client
    queries = []
    client.meta.events.register("before-call.dynamodb.Query", lambda **kwargs: queries.append(kwargs))
    events = console.JobEvents(since=datetime.now(UTC) - timedelta(minutes=1), writes=lambda: fetch_snapshot(
        region=shared_moto.region, tables=[], since=None)[0])
    now = datetime.now(UTC)
    jobs.new_job("j1", video_id="v1", owner_id="u", kind=jobs.CAPTURE, now=now).save()
    # WHEN it looks twice with nothing written between
    first = events.new_lines(now)
    asked = len(queries)
    second = events.new_lines(now)
    # THEN the first look read the new job and the second read nothing
    assert len(first) == 1 and "queued" in first[0] and asked == len(console.REPORTED)
    assert second == [] and len(queries) == asked
    # AND a job written since is read at the next look
    jobs.get("j1").update(actions=[Job.status.set(jobs.FAILED), Job.updated_at.set(datetime.now(UTC))])
    assert any("failed" in line for line in events.new_lines(datetime.now(UTC)))


@pytest.mark.parametrize("binary", [False, True], ids=["as-json", "with-binary"])
def test_every_attribute_type_reads_back_as_it_was_written(shared_moto, binary):
    # GIVEN an item with each DynamoDB type (a binary one makes the server answer through the shape walk)
    item = {"user_id": {"S": "u"}, "n": {"N": "-1.5"}, "flag": {"BOOL": True}, "none": {"NULL": True},
            "map": {"M": {"deep": {"L": [{"S": "é ✓"}, {"N": "2"}, {"M": {}}]}}}, "list": {"L": []},
            "names": {"SS": ["a", "b"]}, "numbers": {"NS": ["1", "2.5"]}}
    if binary:
        item |= {"blob": {"B": b"\x00\xff"}, "blobs": {"BS": [b"\x01", b"\x02"]}}
    client, table = aws.client("dynamodb"), User.Meta.table_name
    client.put_item(TableName=table, Item=item)
    # WHEN it is read by each kind of item read
    got = client.get_item(TableName=table, Key={"user_id": {"S": "u"}})["Item"]
    queried = client.query(TableName=table, KeyConditionExpression="user_id = :u",
                           ExpressionAttributeValues={":u": {"S": "u"}})["Items"]
    scanned = client.scan(TableName=table)["Items"]
    batched = client.batch_get_item(RequestItems={table: {"Keys": [{"user_id": {"S": "u"}}]}})["Responses"][table]
    # THEN each gives back the item as written (sets in any order)
    for read in (got, *queried, *scanned, *batched):
        assert normalized(read) == normalized(item)
    assert len(queried) == len(scanned) == len(batched) == 1


def normalized(item: dict) -> dict:
    return {name: {kind: sorted(value) if kind in ("SS", "NS", "BS") else value for kind, value in typed.items()}
            for name, typed in item.items()}
