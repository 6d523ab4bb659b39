"""A worker process for the fault suite: the local worker loop (the real handler on real SQS events) until
SIGTERM; the suite SIGKILLs it mid-job, as a crash or a Lambda timeout would end a worker."""

from __future__ import annotations

import os
import signal
import threading

from chalicelib import wiring
from chalicelib.local import worker_loop


def main() -> None:
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    worker_loop.serve(wiring.services().queue, concurrency=int(os.environ.get("FAULT_WORKERS", "4")), stop=stop,
                      poll_seconds=1)


if __name__ == "__main__":
    main()
