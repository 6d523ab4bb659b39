"""``python -m chalicelib.local.moto_server PORT [WRITES_LOCK]``: moto's server on loopback, with DynamoDB's
atomicity, ending with the stack that started it.

DynamoDB applies each write and each transaction atomically (its conditions, then its changes); moto checks
and changes without a lock, so two concurrent conditional writes can both pass there. One lock around moto's
item writes gives the local stack (and the tests) the guarantee the capture and quota code relies on. With
``WRITES_LOCK`` (a file) the lock is also shared with other processes: the stack's save pass holds it while
it reads the tables, so what it saves is the tables as of one moment (a reservation is never saved on the
job without being saved on the user). The file also holds how many writes each table has had (``Writes``), so a
pass scans again only the tables written since the last: at 1,000 videos a scan of every table each second
paused the writes for most of that second.
"""

from __future__ import annotations

import copy
import fcntl
import json
import os
import sys
import threading
import uuid
from collections import Counter, defaultdict
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from chalicelib.local.processes import die_with_parent

WRITES = ("update_item", "put_item", "delete_item")  # each names its table first; a transaction names them inside


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
    """Re-entrant (a transaction applies its items through the single-item writes); the outermost holder
    also takes the shared file lock, when there is one, and leaves in it the tables' write counts."""

    def __init__(self, shared: Path | None):
        self._threads = threading.RLock()
        self._depth = 0
        self._fd = os.open(_lock_path(shared), os.O_RDWR | os.O_CREAT) if shared else None
        self._server, self._tables, self._wrote = uuid.uuid4().hex, Counter(), False

    def wrote(self, tables) -> None:
        self._tables.update(tables)
        self._wrote = True

    def __enter__(self) -> None:
        self._threads.acquire()
        self._depth += 1
        if self._depth == 1 and self._fd is not None:
            fcntl.flock(self._fd, fcntl.LOCK_EX)

    def __exit__(self, *failure) -> None:
        self._depth -= 1
        if self._depth == 0 and self._fd is not None:
            if self._wrote:
                counts = json.dumps({"server": self._server, "tables": self._tables}).encode()
                os.pwrite(self._fd, counts, 0)
                os.ftruncate(self._fd, len(counts))
                self._wrote = False
            fcntl.flock(self._fd, fcntl.LOCK_UN)
        self._threads.release()


def make_writes_atomic(shared: Path | None = None) -> Callable[[], None]:
    """Serialise moto's DynamoDB item writes in this process (and with ``writes_paused(shared)`` elsewhere), with
    transactions that keep only their own items to roll back; returns the undo."""
    from moto.dynamodb.models import DynamoDBBackend

    lock = _WritesLock(shared)
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
    return lambda: [setattr(DynamoDBBackend, name, original) for name, original in originals.items()]


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


@contextmanager
def writes_paused(shared: Path) -> Iterator[Writes]:
    """No DynamoDB write of a moto server sharing ``shared`` applies until this block ends (reads go on); yields
    the tables' write counts as of now (none known: an empty ``Writes``, which differs from any)."""
    with _lock_path(shared).open("r") as file:
        fcntl.flock(file, fcntl.LOCK_EX)
        try:
            counts = json.loads(file.read() or "{}")
        except ValueError:
            counts = {}
        yield Writes(counts.get("server", ""), counts.get("tables", {}))


def _lock_path(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.touch()
    return path


def main(argv: list[str]) -> int:
    die_with_parent()
    from moto.server import main as moto_main

    make_writes_atomic(Path(argv[1]) if len(argv) > 1 else None)
    moto_main(["-H", "127.0.0.1", "-p", argv[0]])
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
