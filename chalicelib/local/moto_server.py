"""``python -m chalicelib.local.moto_server PORT``: moto's server on loopback, with DynamoDB's atomicity and a
consistent snapshot of the tables for the save passes, ending with the stack that started it.

DynamoDB applies each write and each transaction atomically (its conditions, then its changes); moto checks
and changes without a lock, so two concurrent conditional writes can both pass there. One lock around moto's
item writes gives the local stack (and the tests) the guarantee the capture and quota code relies on. The stack's
save pass asks this server for the tables (``SNAPSHOT_PATH``): their items are copied under the same lock, so
what it saves is the tables as of one moment (never half a transaction; a reservation's two plain writes may fall
either side, as a crash may, and the worker's start sets the counters right), and only the tables written since
the pass before (``Writes``). Scanning every table over HTTP with the
writes paused took most of each second at 1,000 videos: deletes and captures waited on it.
"""

from __future__ import annotations

import copy
import json
import os
import signal
import sys
import threading
import uuid
from collections import Counter, defaultdict
from collections.abc import Callable
from dataclasses import asdict, dataclass, field

from chalicelib.local.processes import die_with_parent

WRITES = ("update_item", "put_item", "delete_item")  # each names its table first; a transaction names them inside
SNAPSHOT_PATH = "/_prsnl/dynamodb/snapshot"  # POST {"region", "tables", "since"} -> {"writes", "tables"}
SERVER_THREADS = 64  # requests at once: each SQS long poll holds one for up to 20 s
ITEM_READS = frozenset({"GetItem", "BatchGetItem", "Query", "Scan"})  # answers that are the items' own JSON
S3_PUT_MAX_BYTES = 5 * 1024**3  # S3's own limit for one PUT (waitress refuses bodies past 1 GB by default)


@dataclass(frozen=True)
class Writes:
    """How many writes each table has had on one moto server (``server``: counts start again with a new one)."""

    server: str = ""
    tables: dict[str, int] = field(default_factory=dict)

    def changed(self, table: str, since: Writes | None) -> bool:
        """Written since ``since`` (always, when this server's counts are not known)."""
        return (since is None or not self.server or since.server != self.server
                or since.tables.get(table) != self.tables.get(table))


class _WritesLock:
    """Re-entrant (a transaction applies its items through the single-item writes); counts each table's writes."""

    def __init__(self):
        self._threads = threading.RLock()
        self.server, self.tables = uuid.uuid4().hex, Counter()

    def wrote(self, tables) -> None:
        self.tables.update(tables)

    def writes(self) -> Writes:
        return Writes(self.server, dict(self.tables))

    def __enter__(self) -> None:
        self._threads.acquire()

    def __exit__(self, *failure) -> None:
        self._threads.release()


def make_writes_atomic() -> tuple[_WritesLock, Callable[[], None]]:
    """Serialise moto's DynamoDB item writes in this process, with transactions that keep only their own items to
    roll back; returns the lock (for snapshots) and the undo."""
    from moto.dynamodb.models import DynamoDBBackend

    lock = _WritesLock()
    originals = {name: getattr(DynamoDBBackend, name) for name in (*WRITES, "transact_write_items")}

    def locked(original, tables):
        def write(self, *args, **kwargs):
            with lock:
                lock.wrote(tables(*args, **kwargs))
                return original(self, *args, **kwargs)

        return write

    for name in WRITES:
        setattr(DynamoDBBackend, name, locked(originals[name], lambda table_name, *_args, **_kwargs: [table_name]))
    DynamoDBBackend.transact_write_items = locked(
        _rolled_back_by_item(originals["transact_write_items"]),
        lambda transact_items: [next(iter(item.values())).get("TableName") for item in transact_items])
    return lock, lambda: [setattr(DynamoDBBackend, name, original) for name, original in originals.items()]


def _rolled_back_by_item(transact_write_items):
    """moto keeps a deep copy of every table a transaction touches, to put back if it fails: 129 ms for the videos
    table at 1,000 videos, with every other write waiting on the lock. Under the lock nothing else changes a table,
    so the copy needs only the items the transaction names (deep) and the rest of the table as it is (shallow)."""
    from moto.dynamodb.models.dynamo_type import DynamoType
    from moto.dynamodb.models.table import Table

    def transact(self, transact_items):
        touched: dict[str, set] = {}
        for item in transact_items:
            op = next(iter(item.values()))
            table = self.tables.get(op.get("TableName"))
            key = op.get("Key") or op.get("Item") or {}
            if table is not None and table.hash_key_attr in key:
                touched.setdefault(table.name, set()).add(DynamoType(key[table.hash_key_attr]))

        def snapshot(table, memo):
            copied = copy.copy(table)
            names = touched.get(table.name, set())
            copied.items = defaultdict(dict, {
                hash_key: copy.deepcopy(value, memo) if hash_key in names else value
                for hash_key, value in table.items.items()})
            return copied

        Table.__deepcopy__ = snapshot  # the one deep copy of a table moto makes is this one, under the lock
        try:
            return transact_write_items(self, transact_items)
        finally:
            del Table.__deepcopy__

    return transact


def snapshot(lock: _WritesLock, *, region: str, tables: list[str], since: Writes | None) -> dict:
    """The items of each of ``tables`` written since ``since`` (DynamoDB JSON, copied with the writes held) and the
    write counts they are as of; a table that does not exist is left out."""
    from moto.core import DEFAULT_ACCOUNT_ID
    from moto.dynamodb.models import dynamodb_backends

    backend = dynamodb_backends[DEFAULT_ACCOUNT_ID][region]
    with lock:
        writes = lock.writes()
        items = {name: [item.to_json()["Attributes"] for item in backend.tables[name].all_items()]
                 for name in tables if name in backend.tables and writes.changed(name, since)}
    return {"writes": asdict(writes), "tables": items}


def fetch_snapshot(*, region: str, tables: list[str], since: Writes | None) -> tuple[Writes, dict[str, list]]:
    """``snapshot`` asked of the moto server at ``AWS_ENDPOINT_URL`` (no tables: only the write counts)."""
    import requests

    answer = requests.post(os.environ["AWS_ENDPOINT_URL"] + SNAPSHOT_PATH, timeout=120, json={
        "region": region, "tables": tables, "since": asdict(since) if since else None})
    answer.raise_for_status()
    body = answer.json()
    return Writes(**body["writes"]), body["tables"]


def with_snapshots(app, lock: _WritesLock):
    """moto's WSGI app, with ``SNAPSHOT_PATH`` answered here."""

    def serve(environ, start_response):
        if environ.get("PATH_INFO") != SNAPSHOT_PATH or environ.get("REQUEST_METHOD") != "POST":
            return app(environ, start_response)
        asked = json.loads(environ["wsgi.input"].read(int(environ.get("CONTENT_LENGTH") or 0)) or b"{}")
        since = Writes(**asked["since"]) if asked.get("since") else None
        body = json.dumps(snapshot(lock, region=asked["region"], tables=asked["tables"], since=since)).encode()
        start_response("200 OK", [("Content-Type", "application/json"), ("Content-Length", str(len(body)))])
        return [body]

    return serve


def quicken_requests() -> None:
    """What moto does on every request that could be done once: list its own package directory to find the
    service (8% of a GetItem's CPU) and a handler class's methods (5%); and the shape walk of item reads."""
    import functools

    from moto import backends
    from moto.core import responses

    modules = tuple(backends.list_of_moto_modules())
    backends.list_of_moto_modules = lambda: modules
    responses.method_names_from_class = functools.cache(responses.method_names_from_class)
    _items_as_json()


def _items_as_json() -> None:
    """Item reads answered with ``json.dumps``: moto 5 walks botocore's shape of every attribute value to build
    the same JSON (most of a GetItem of a video record). Anything ``json`` cannot write (binary attributes) goes
    the shape's way still."""
    from moto.dynamodb.responses import DynamoResult

    shaped = DynamoResult.execute_result

    def execute_result(self, context):
        if context.operation_model.name in ITEM_READS:
            try:
                return 200, {"Content-Type": "application/x-amz-json-1.0"}, json.dumps(self.result)
            except TypeError:
                pass
        return shaped(self, context)

    DynamoResult.execute_result = execute_result


def main(argv: list[str]) -> int:
    """moto's app as ``moto.server`` builds it, wrapped, served by waitress: werkzeug's development server (moto's
    own) answers every request with ``Connection: close``, so each AWS call paid a new connection and thread.
    moto's request handler for that server, which kept S3 metadata headers with underscores, goes with it: the
    stack writes no user metadata."""
    die_with_parent()
    import waitress
    from moto.moto_server.werkzeug_app import DomainDispatcherApplication, create_backend_app

    os.environ.setdefault("MOTO_PORT", argv[0])
    for stop in (signal.SIGINT, signal.SIGTERM):
        signal.signal(stop, lambda *_: sys.exit(0))
    lock, _undo = make_writes_atomic()
    quicken_requests()
    app = with_snapshots(DomainDispatcherApplication(create_backend_app), lock)
    waitress.create_server(app, host="127.0.0.1", port=int(argv[0]), threads=SERVER_THREADS, connection_limit=1000,
                           max_request_body_size=S3_PUT_MAX_BYTES, asyncore_use_poll=True).run()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
