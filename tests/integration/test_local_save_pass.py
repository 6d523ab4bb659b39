"""What `make run` reads of its moto server: a save pass writes the tables as of one moment, while writes go on
(a transaction that changes two tables is saved in both or in neither: a reservation saved on the job but not on
the user came back after a `kill -9` as a negative reservation), it and the console read only what was
written since their last look, and its quick item answers give back every attribute type as written."""

from __future__ import annotations

import json
import os
import threading
from datetime import UTC, datetime, timedelta

import pytest
import requests

from chalicelib import aws
from chalicelib.config import load_settings
from chalicelib.local import console, persist
from chalicelib.local.bootstrap import bootstrap
from chalicelib.local.moto_server import TablesCopy
from chalicelib.local.stack import free_port, local_environment, start_moto
from chalicelib.records import jobs
from chalicelib.records.models import Job, User, Video
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


def test_every_pass_saves_both_halves_of_each_transaction(shared_moto, tmp_path):
    stop, count = threading.Event(), [0]
    writer = threading.Thread(target=transactions, args=(stop, count))
    writer.start()
    try:
        seen = []
        while len(seen) < PASSES:
            persist.save(tmp_path, shared_moto)
            seen.append((saved(tmp_path, User).get("u"), saved(tmp_path, Job).get("j")))
    finally:
        stop.set()
        writer.join(timeout=60)
    assert all(user == job for user, job in seen), seen
    assert len({user for user, _ in seen}) > 1, "the writes went on between the passes"


def saved(data, model) -> dict[str, str]:
    """The saved table: each item's key attribute -> its counter."""
    key = model._hash_keyname
    lines = (data / "tables" / f"{model.__name__}.jsonl").read_text().splitlines()
    return {item[key]["S"]: item["n"]["N"] for item in map(json.loads, lines)}


def test_a_pass_reads_again_only_the_items_written_since_the_last(shared_moto, tmp_path):
    client, users = aws.client("dynamodb"), User.Meta.table_name
    for user in ("u", "v"):
        client.put_item(TableName=users, Item={"user_id": {"S": user}, "n": {"N": "1"}})
    client.put_item(TableName=Job.Meta.table_name, Item={"job_id": {"S": "j"}, "n": {"N": "1"}})
    first = persist.save(tmp_path, shared_moto)
    assert first.items == 3
    # WHEN nothing is written: THEN the next pass reads nothing
    assert persist.save(tmp_path, shared_moto, tables=first.tables).items == 0
    # WHEN one user is written in a transaction: THEN only that item is read again, and the table saved whole
    client.transact_write_items(TransactItems=[
        {"Put": {"TableName": users, "Item": {"user_id": {"S": "u"}, "n": {"N": "2"}}}}])
    assert persist.save(tmp_path, shared_moto, tables=first.tables).items == 1
    assert saved(tmp_path, User) == {"u": "2", "v": "1"} and saved(tmp_path, Job) == {"j": "1"}
    # WHEN one is deleted: THEN the next pass saves the table without it
    client.delete_item(TableName=users, Key={"user_id": {"S": "v"}})
    persist.save(tmp_path, shared_moto, tables=first.tables)
    assert saved(tmp_path, User) == {"u": "2"}
    # AND a pass that does not know what the last one saw reads every item
    assert persist.save(tmp_path, shared_moto).items == 2


def test_after_a_reset_of_the_moto_server_a_pass_reads_the_tables_whole(shared_moto, tmp_path):
    # GIVEN a pass that saved a user
    client = aws.client("dynamodb")
    client.put_item(TableName=User.Meta.table_name, Item={"user_id": {"S": "u"}, "n": {"N": "1"}})
    first = persist.save(tmp_path, shared_moto)
    # WHEN moto's state is reset (its tables made again, empty) and another user written
    requests.post(os.environ["AWS_ENDPOINT_URL"] + "/moto-api/reset", timeout=10).raise_for_status()
    bootstrap(shared_moto)
    client.put_item(TableName=User.Meta.table_name, Item={"user_id": {"S": "v"}, "n": {"N": "1"}})
    # THEN the pass after it saves the tables as they are now, not the old ones with a change on top
    persist.save(tmp_path, shared_moto, tables=first.tables)
    assert saved(tmp_path, User) == {"v": "1"}


def test_the_consoles_look_reads_only_the_jobs_written_since_the_last(shared_moto):
    # GIVEN the console's job events, as the stack makes them, and every DynamoDB call the looks make
    calls = []
    for model in (Job, Video):
        model._get_connection().connection.client.meta.events.register(
            "before-call.dynamodb", lambda model, **_: calls.append(model.name))
    events = console.JobEvents(since=datetime.now(UTC) - timedelta(minutes=1),
                               jobs_table=TablesCopy(shared_moto.region, [Job.Meta.table_name]))
    now = datetime.now(UTC)
    jobs.new_job("j1", video_id="v1", owner_id="u", kind=jobs.CAPTURE, now=now).save()
    calls.clear()
    # WHEN it looks twice with nothing written between
    first = events.new_lines()
    asked = list(calls)
    second = events.new_lines()
    # THEN the first look read the new job (and asked for its video), the second read nothing; neither queried
    assert len(first) == 1 and "queued" in first[0] and asked == ["GetItem"]
    assert second == [] and calls == asked
    # AND a job written since is read at the next look
    jobs.get("j1").update(actions=[Job.status.set(jobs.FAILED), Job.updated_at.set(datetime.now(UTC))])
    assert any("failed" in line for line in events.new_lines())


@pytest.mark.parametrize("binary", [False, True], ids=["as-json", "with-binary"])
def test_every_attribute_type_comes_back_from_reads_and_writes_as_it_was_written(shared_moto, binary):
    # GIVEN an item with each DynamoDB type (a binary one makes the server answer through the shape walk)
    item = {"user_id": {"S": "u"}, "n": {"N": "-1.5"}, "flag": {"BOOL": True}, "none": {"NULL": True},
            "map": {"M": {"deep": {"L": [{"S": "é ✓"}, {"N": "2"}, {"M": {}}]}}}, "list": {"L": []},
            "names": {"SS": ["a", "b"]}, "numbers": {"NS": ["1", "2.5"]}}
    if binary:
        item |= {"blob": {"B": b"\x00\xff"}, "blobs": {"BS": [b"\x01", b"\x02"]}}
    client, table, key = aws.client("dynamodb"), User.Meta.table_name, {"user_id": {"S": "u"}}
    client.put_item(TableName=table, Item=item)
    # WHEN it is read by each kind of item read, and given back by each kind of item write
    rewritten = client.put_item(TableName=table, Item=item, ReturnValues="ALL_OLD")["Attributes"]
    updated = client.update_item(TableName=table, Key=key, UpdateExpression="SET flag = :f", ReturnValues="ALL_NEW",
                                 ExpressionAttributeValues={":f": {"BOOL": True}})["Attributes"]
    got = client.get_item(TableName=table, Key=key)["Item"]
    queried = client.query(TableName=table, KeyConditionExpression="user_id = :u",
                           ExpressionAttributeValues={":u": {"S": "u"}})["Items"]
    scanned = client.scan(TableName=table)["Items"]
    batched = client.batch_get_item(RequestItems={table: {"Keys": [key]}})["Responses"][table]
    deleted = client.delete_item(TableName=table, Key=key, ReturnValues="ALL_OLD")["Attributes"]
    # THEN each gives back the item as written (sets in any order)
    for read in (got, *queried, *scanned, *batched, rewritten, updated, deleted):
        assert normalized(read) == normalized(item)
    assert len(queried) == len(scanned) == len(batched) == 1


def normalized(item: dict) -> dict:
    return {name: {kind: sorted(value) if kind in ("SS", "NS", "BS") else value for kind, value in typed.items()}
            for name, typed in item.items()}
