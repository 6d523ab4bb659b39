"""``python -m chalicelib.local.moto_server PORT [WRITES_LOCK]``: moto's server on loopback, with DynamoDB's
atomicity, ending with the stack that started it.

DynamoDB applies each write and each transaction atomically (its conditions, then its changes); moto checks
and changes without a lock, so two concurrent conditional writes can both pass there. One lock around moto's
item writes gives the local stack (and the tests) the guarantee the capture and quota code relies on. With
``WRITES_LOCK`` (a file) the lock is also shared with other processes: the stack's save pass holds it while
it reads every table, so what it saves is the tables as of one moment (a reservation is never saved on the
job without being saved on the user).
"""

from __future__ import annotations

import copy
import fcntl
import sys
import threading
from collections import defaultdict
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from chalicelib.local.processes import die_with_parent

WRITES = ("update_item", "put_item", "delete_item", "transact_write_items")


class _WritesLock:
    """Re-entrant (a transaction applies its items through the single-item writes); the outermost holder
    also takes the shared file lock, when there is one."""

    def __init__(self, shared: Path | None):
        self._threads = threading.RLock()
        self._depth = 0
        self._file = _lock_file(shared) if shared else None

    def __enter__(self) -> None:
        self._threads.acquire()
        self._depth += 1
        if self._depth == 1 and self._file:
            fcntl.flock(self._file, fcntl.LOCK_EX)

    def __exit__(self, *failure) -> None:
        self._depth -= 1
        if self._depth == 0 and self._file:
            fcntl.flock(self._file, fcntl.LOCK_UN)
        self._threads.release()


def make_writes_atomic(shared: Path | None = None) -> Callable[[], None]:
    """Serialise moto's DynamoDB item writes in this process (and with ``writes_paused(shared)`` elsewhere), with
    transactions that keep only their own items to roll back; returns the undo."""
    from moto.dynamodb.models import DynamoDBBackend

    lock = _WritesLock(shared)
    originals = {name: getattr(DynamoDBBackend, name) for name in WRITES}

    def locked(original):
        def write(self, *args, **kwargs):
            with lock:
                return original(self, *args, **kwargs)

        return write

    for name, original in originals.items():
        setattr(DynamoDBBackend, name, locked(original))
    DynamoDBBackend.transact_write_items = locked(_rolled_back_by_item(originals["transact_write_items"]))
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
def writes_paused(shared: Path) -> Iterator[None]:
    """No DynamoDB write of a moto server sharing ``shared`` applies until this block ends (reads go on)."""
    with _lock_file(shared) as file:
        fcntl.flock(file, fcntl.LOCK_EX)
        yield


def _lock_file(path: Path):
    path.parent.mkdir(parents=True, exist_ok=True)
    return path.open("a")


def main(argv: list[str]) -> int:
    die_with_parent()
    from moto.server import main as moto_main

    make_writes_atomic(Path(argv[1]) if len(argv) > 1 else None)
    moto_main(["-H", "127.0.0.1", "-p", argv[0]])
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
