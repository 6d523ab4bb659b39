"""``python -m chalicelib.local.moto_server PORT``: moto's server on loopback, with DynamoDB's atomicity and a
consistent snapshot of the tables for the save passes, ending with the stack that started it.

DynamoDB applies each write and each transaction atomically (its conditions, then its changes); moto checks
and changes without a lock, so two concurrent conditional writes can both pass there. One lock around moto's
item writes gives the local stack (and the tests) the guarantee the capture and quota code relies on. The stack's
save pass and the console ask this server what was written (``SNAPSHOT_PATH``): the items written since their last
look, copied under the same lock, so what they read is the tables as of one moment (never half a transaction; a
reservation's two plain writes may fall either side, as a crash may, and the worker's start sets the counters
right). Copying whole tables took most of each second at 1,000 videos, and the console's three index queries a
second (moto reads and sorts the whole table for each) half of moto's time under a burst of captures.
"""

from __future__ import annotations

import copy
import ctypes
import gc
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
COPYING_READS = ("query", "scan")  # each walks a table's items and deep-copies those it answers with
SNAPSHOT_PATH = "/_prsnl/dynamodb/snapshot"  # POST {"region", "tables", "since"} -> {"writes", "whole", "tables"}
SERVER_THREADS = 64  # requests at once: each SQS long poll holds one for up to 20 s
ITEM_ANSWERS = frozenset({"GetItem", "BatchGetItem", "Query", "Scan",  # answers that are the items' own JSON
                          "PutItem", "UpdateItem", "DeleteItem"})
DYNAMODB_TARGET = "DynamoDB_20120810."  # the X-Amz-Target of every DynamoDB call
GC_THRESHOLDS = (50_000, 20, 100)  # a young collection every 50,000 allocations, not 700
S3_PUT_MAX_BYTES = 5 * 1024**3  # S3's own limit for one PUT (waitress refuses bodies past 1 GB by default)
# waitress reads 8 KiB a call and writes a body past 512 KiB to a temp file, 8 KiB at a time: a 20 MB upload was
# 2,560 turns of its loop and a file's worth of writes (moto's CPU for it about 120 -> 70 ms with these). Reads
# past 128 KiB cost every small request an allocation of their size from the OS (3 -> 23 us a read at 256 KiB).
RECV_BYTES = 64 * 1024
BODY_IN_MEMORY_BYTES = 32 * 1024**2  # an upload of up to two 16 MB parts, or one part
M_TRIM_THRESHOLD, M_MMAP_THRESHOLD, M_ARENA_MAX = -1, -3, -8  # glibc's mallopt parameters
# one arena; buffers of up to 32 MB (a 20 MB upload's copies; older glibc takes no more) from the heap; the heap kept
# while less than 1 GB of it is free at its top
MALLOC_SETTINGS = ((M_ARENA_MAX, 1), (M_MMAP_THRESHOLD, 32 * 1024**2), (M_TRIM_THRESHOLD, 1024**3))


@dataclass(frozen=True)
class Writes:
    """How many writes each table has had in one lineage of a moto server's tables (``server``: a new one when they
    are reset or one is deleted, and counts start again)."""

    server: str = ""
    tables: dict[str, int] = field(default_factory=dict)

    def changed(self, table: str, since: Writes | None) -> bool:
        """Written since ``since`` (always, when this server's counts are not known)."""
        return not self.continues(since) or since.tables.get(table) != self.tables.get(table)

    def continues(self, since: Writes | None) -> bool:
        """``since`` is an earlier moment of the same tables: what was written between can be told item by item."""
        return since is not None and bool(self.server) and since.server == self.server


class _WritesLock:
    """Re-entrant (a transaction applies its items through the single-item writes); counts each table's writes and
    remembers, per item, the count of its table at its last write."""

    def __init__(self):
        self._threads = threading.RLock()
        self.forget()

    def forget(self) -> None:
        """The tables were reset or one deleted: a new lineage, whose readers start with a whole copy."""
        self.server, self.tables, self.keys = uuid.uuid4().hex, Counter(), defaultdict(dict)

    def wrote(self, table: str, key: str) -> None:
        self.tables[table] += 1
        self.keys[table][key] = self.tables[table]

    def written_since(self, table: str, since: Writes) -> list[str]:
        count = since.tables.get(table, 0)
        return [key for key, last in self.keys[table].items() if last > count]

    def writes(self) -> Writes:
        return Writes(self.server, dict(self.tables))

    def __enter__(self) -> None:
        self._threads.acquire()

    def __exit__(self, *failure) -> None:
        self._threads.release()


def item_key(table, attrs: dict) -> str:
    """An item's key attributes (DynamoDB JSON) as one string: the same for the item, its key and every write."""
    names = (table.hash_key_attr, table.range_key_attr)
    return json.dumps({name: attrs[name] for name in names if name is not None}, sort_keys=True)


def make_writes_atomic() -> tuple[_WritesLock, Callable[[], None]]:
    """Serialise moto's DynamoDB item writes in this process, with transactions that keep only their own items to
    roll back; returns the lock (for snapshots) and the undo. moto's reads walk and copy the very dicts its writes
    change in place ("dictionary changed size during iteration" from a Scan beside an UpdateItem), so they take the
    lock too, and GetItem answers with a copy, which the response turns into JSON after the lock is released."""
    from moto.dynamodb.models import DynamoDBBackend

    lock = _WritesLock()
    names = (*WRITES, *COPYING_READS, "get_item", "transact_write_items", "delete_table")
    originals = {name: getattr(DynamoDBBackend, name) for name in names}

    def locked(original):
        def write(self, table_name, attrs_or_key, *args, **kwargs):
            with lock:
                table = self.tables.get(table_name)
                if table is not None and table.hash_key_attr in attrs_or_key:
                    lock.wrote(table_name, item_key(table, attrs_or_key))
                return original(self, table_name, attrs_or_key, *args, **kwargs)

        return write

    def read_under_lock(original):
        def read(self, *args, **kwargs):
            with lock:
                return original(self, *args, **kwargs)

        return read

    def get_item(self, *args, **kwargs):
        with lock:
            return copy.deepcopy(originals["get_item"](self, *args, **kwargs))

    def delete_table(self, name):
        with lock:
            lock.forget()
            return originals["delete_table"](self, name)

    for name in WRITES:
        setattr(DynamoDBBackend, name, locked(originals[name]))
    for name in COPYING_READS:
        setattr(DynamoDBBackend, name, read_under_lock(originals[name]))
    transact = _rolled_back_by_item(originals["transact_write_items"])

    def transact_write_items(self, transact_items):
        with lock:
            return transact(self, transact_items)

    DynamoDBBackend.transact_write_items = transact_write_items
    DynamoDBBackend.get_item = get_item
    DynamoDBBackend.delete_table = delete_table
    return lock, lambda: [setattr(DynamoDBBackend, name, original) for name, original in originals.items()]


def _rolled_back_by_item(transact_write_items):
    """moto keeps a deep copy of every table a transaction touches, to put back if it fails: 129 ms for the videos
    table at 1,000 videos, with every other write waiting on the lock. Under the lock nothing else changes a table,
    so the copy needs only the items the transaction names (deep) and the rest of the table as it is (the dict
    copied, its values shared)."""
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
            copied.items = table.items.copy()  # a dict's copy keeps the keys' hashes: none is hashed again
            for hash_key in touched.get(table.name, ()):
                if hash_key in copied.items:
                    copied.items[hash_key] = copy.deepcopy(copied.items[hash_key], memo)
            return copied

        Table.__deepcopy__ = snapshot  # the one deep copy of a table moto makes is this one, under the lock
        try:
            return transact_write_items(self, transact_items)
        finally:
            del Table.__deepcopy__

    return transact


def snapshot(lock: _WritesLock, *, region: str, tables: list[str], since: Writes | None) -> dict:
    """What each of ``tables`` had written since ``since``, copied with the writes held: the items written since
    (``null`` for one deleted) by key, or every item (``whole``) when ``since`` is of other tables; and the write
    counts it is as of. Each item is one line of JSON with sorted keys, as the save pass writes it."""
    from moto.core import DEFAULT_ACCOUNT_ID
    from moto.dynamodb.models import dynamodb_backends

    backend = dynamodb_backends[DEFAULT_ACCOUNT_ID][region]
    with lock:
        writes = lock.writes()
        whole = not writes.continues(since)
        changes = {name: _changes(backend, lock, name, None if whole else since)
                   for name in tables if name in backend.tables and writes.changed(name, since)}
    return {"writes": asdict(writes), "whole": whole, "tables": changes}


def _changes(backend, lock: _WritesLock, name: str, since: Writes | None) -> dict[str, str | None]:
    table = backend.tables[name]
    if since is None:
        return {item_key(table, attrs): _line(attrs) for attrs in (item.to_json()["Attributes"]
                                                                   for item in table.all_items())}
    changes = {}
    for key in lock.written_since(name, since):
        item = backend.get_item(name, json.loads(key))
        changes[key] = None if item is None else _line(item.to_json()["Attributes"])
    return changes


def _line(attrs: dict) -> str:
    return json.dumps(attrs, sort_keys=True, separators=(",", ":"))


@dataclass
class TablesCopy:
    """Some tables of the moto server at ``AWS_ENDPOINT_URL`` as of the last ``refresh``, each item one JSON line
    by key: each refresh asks only for the items written since the one before."""

    region: str
    tables: list[str]
    writes: Writes | None = None
    items: dict[str, dict[str, str]] = field(default_factory=dict)

    def refresh(self) -> dict[str, list[str]]:
        """Bring the copy up to date; returns the lines of the items written since, by table (every item after a
        whole copy)."""
        import requests

        answer = requests.post(os.environ["AWS_ENDPOINT_URL"] + SNAPSHOT_PATH, timeout=120, json={
            "region": self.region, "tables": self.tables, "since": asdict(self.writes) if self.writes else None})
        answer.raise_for_status()
        body = answer.json()
        self.writes = Writes(**body["writes"])
        if body["whole"]:
            self.items = {}
        written = {}
        for name, changes in body["tables"].items():
            mine = self.items.setdefault(name, {})
            for key, line in changes.items():
                if line is None:
                    mine.pop(key, None)
                else:
                    mine[key] = line
            written[name] = [line for line in changes.values() if line is not None]
        return written


def with_snapshots(app, lock: _WritesLock):
    """moto's WSGI app, with ``SNAPSHOT_PATH`` answered here (and moto's reset starting a new lineage)."""

    def serve(environ, start_response):
        if environ.get("PATH_INFO") == "/moto-api/reset":
            with lock:
                lock.forget()
                return app(environ, start_response)
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
    service (8% of a GetItem's CPU) and a handler class's methods (5%); the shape walk of item reads; and SQS's
    clock and retention check."""
    import functools

    from moto import backends
    from moto.core import responses

    modules = tuple(backends.list_of_moto_modules())
    backends.list_of_moto_modules = lambda: modules
    responses.method_names_from_class = functools.cache(responses.method_names_from_class)
    _items_as_json()
    _sqs_clock()


def _items_as_json() -> None:
    """Item reads and writes answered with ``json.dumps``: moto 5 walks botocore's shape of every attribute value
    to build the same JSON (most of a GetItem of a video record). Anything ``json`` cannot write (binary
    attributes) goes the shape's way still."""
    from moto.dynamodb.responses import DynamoResult

    shaped = DynamoResult.execute_result

    def execute_result(self, context):
        if context.operation_model.name in ITEM_ANSWERS:
            try:
                return 200, {"Content-Type": "application/x-amz-json-1.0"}, json.dumps(self.result)
            except TypeError:
                pass
        return shaped(self, context)

    DynamoResult.execute_result = execute_result


def _sqs_clock() -> None:
    """moto's SQS asks the time of each message it looks at (visible? delayed? retained?) through a naive UTC
    datetime and a subtraction, and it looks at every message of the queue for each send, receive and count:
    with the worker behind, a few hundred, 12% of moto's time under a burst of captures. The same number, from
    the clock. And it checks each message it hands out against the queue's retention period by computing every
    attribute of the queue (the counts among them): the period is one field."""
    import time

    from moto.sqs import models

    def is_message_valid_based_on_retention_period(self, queue_name, message) -> bool:
        retention = self.get_queue(queue_name).message_retention_period
        return int(retention) + message.sent_timestamp / 1000 > time.time()

    models.unix_time, models.unix_time_millis = time.time, lambda: time.time() * 1000
    models.SQSBackend.is_message_valid_based_on_retention_period = is_message_valid_based_on_retention_period


def dynamodb_without_flask(app):
    """moto's WSGI app, with DynamoDB's requests handed to moto's handler straight: moto's Flask app around it (a
    URL map, a request context, CORS headers and debug helpers, none of which DynamoDB's JSON protocol uses) was a
    fifth of each call's CPU. The handler is the one moto's Flask view calls, with the same arguments."""
    from botocore.exceptions import ClientError
    from moto.core.request import Request
    from moto.dynamodb.responses import DynamoHandler
    from werkzeug.wrappers import Response

    class ServerRequest(Request):
        from_wsgi_server = True  # as moto's own server marks its requests

    def serve(environ, start_response):
        if not environ.get("HTTP_X_AMZ_TARGET", "").startswith(DYNAMODB_TARGET):
            return app(environ, start_response)
        request = ServerRequest(environ)
        try:
            status, headers, body = DynamoHandler.dispatch(request, request.raw_url, dict(request.headers))
        except ClientError as error:  # as moto's Flask view answers it
            status, headers, body = 400, {}, error.response["Error"]["Message"]
        return Response(body, status, headers)(environ, start_response)

    return serve


def without_debug(create_app):
    """moto's Flask apps out of debug mode. In it, Flask gives each request's ``files`` a class of its own whose
    method refers back to the request: a cycle that kept every request, its two copies of the body with it, until a
    full collection, which this server's thresholds make rare (after five uploads of 20 MB, all five were held)."""

    def create(service):
        app = create_app(service)
        app.debug = False
        return app

    return create


def reuse_freed_memory() -> None:
    """glibc's malloc, told to reuse what a request frees. By default each server thread gets an arena of its own (up
    to 8 per core) and a buffer past the mmap threshold goes back to the OS when freed, so the copies of each 20 MB
    upload landed in fresh pages the kernel had to zero: under rounds of ten uploads at once, moto's system CPU was
    31-134 ms per upload and its RSS 2 GB after 60. With these (moto allocates under the GIL: one arena is enough),
    9-39 ms and 590 MB, the most ten uploads at once hold."""
    try:
        mallopt = ctypes.CDLL(None).mallopt
    except AttributeError:  # not glibc (macOS): its allocator is left as it is
        return
    for parameter, value in MALLOC_SETTINGS:
        mallopt(parameter, value)


def main(argv: list[str]) -> int:
    """moto's app as ``moto.server`` builds it, wrapped, served by waitress: werkzeug's development server (moto's
    own) answers every request with ``Connection: close``, so each AWS call paid a new connection and thread.
    moto's request handler for that server, which kept S3 metadata headers with underscores, goes with it: the
    stack writes no user metadata."""
    die_with_parent()
    reuse_freed_memory()
    # moto holds every item attribute by attribute: at the default thresholds the collector's pauses made the tail
    # (a burst of captures: moto's CPU per capture 14.6 -> 11.5 ms, p95 566 -> 416 ms with these)
    gc.set_threshold(*GC_THRESHOLDS)
    import waitress
    from moto.moto_server.werkzeug_app import DomainDispatcherApplication, create_backend_app

    os.environ.setdefault("MOTO_PORT", argv[0])
    for stop in (signal.SIGINT, signal.SIGTERM):
        signal.signal(stop, lambda *_: sys.exit(0))
    lock, _undo = make_writes_atomic()
    quicken_requests()
    app = with_snapshots(dynamodb_without_flask(DomainDispatcherApplication(without_debug(create_backend_app))), lock)
    waitress.create_server(app, host="127.0.0.1", port=int(argv[0]), threads=SERVER_THREADS, connection_limit=1000,
                           max_request_body_size=S3_PUT_MAX_BYTES, recv_bytes=RECV_BYTES,
                           inbuf_overflow=BODY_IN_MEMORY_BYTES, asyncore_use_poll=True).run()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
