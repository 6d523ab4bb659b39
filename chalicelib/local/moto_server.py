"""``python -m chalicelib.local.moto_server PORT``: moto's server on loopback, with DynamoDB's atomicity, ending
with the stack that started it.

DynamoDB applies each write and each transaction atomically (its conditions, then its changes); moto checks
and changes without a lock, so two concurrent conditional writes can both pass there. One lock around moto's
item writes gives the local stack (and the tests) the guarantee the capture and quota code relies on.
"""

from __future__ import annotations

import sys
import threading
from collections.abc import Callable

from chalicelib.local.processes import die_with_parent

WRITES = ("update_item", "put_item", "delete_item", "transact_write_items")


def make_writes_atomic() -> Callable[[], None]:
    """Serialise moto's DynamoDB item writes in this process; returns the undo."""
    from moto.dynamodb.models import DynamoDBBackend

    lock = threading.RLock()  # a transaction applies its items through the single-item writes
    originals = {name: getattr(DynamoDBBackend, name) for name in WRITES}

    def locked(original):
        def write(self, *args, **kwargs):
            with lock:
                return original(self, *args, **kwargs)

        return write

    for name, original in originals.items():
        setattr(DynamoDBBackend, name, locked(original))
    return lambda: [setattr(DynamoDBBackend, name, original) for name, original in originals.items()]


def main(argv: list[str]) -> int:
    die_with_parent()
    from moto.server import main as moto_main

    make_writes_atomic()
    moto_main(["-H", "127.0.0.1", "-p", argv[0]])
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
