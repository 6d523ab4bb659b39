"""A running job's lease, renewed while its worker lives: the job's ``lease_until`` and its message's visibility.

Every quarter of the lease a thread beside the attempt pushes both forward. A worker that dies (killed, out
of memory, past Lambda's timeout) stops renewing: the lease ends, the message reappears a little later
(``Settings.hidden_seconds``), and that redelivery can claim the job (``jobs.claim``). So a dead worker's job
runs again within about ``hidden_seconds`` instead of waiting for the hourly reaper.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import timedelta
from typing import TYPE_CHECKING

from chalicelib.observability import logger
from chalicelib.records import jobs
from chalicelib.records.models import Job

if TYPE_CHECKING:
    from chalicelib.wiring import Services


class LeaseKeeper:
    def __init__(self, job: Job, services: Services, *, hold_message: Callable[[], None]):
        self._job, self._services, self._hold_message = job, services, hold_message
        self._lease = services.settings.job_lease_seconds
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._renew, name=f"lease-{job.job_id}", daemon=True)

    def __enter__(self) -> LeaseKeeper:
        self._thread.start()
        return self

    def __exit__(self, *_exc) -> None:
        self._stop.set()
        self._thread.join()

    def _renew(self) -> None:
        while not self._stop.wait(self._lease / 4):
            try:
                until = self._services.clock.now() + timedelta(seconds=self._lease)
                if not jobs.renew_lease(self._job, until=until):
                    return  # taken back or finished: the attempt's own commit finds out
                self._hold_message()
            except Exception:  # a missed renewal is retried at the next beat; the lease has room for three
                logger.exception("job lease not renewed", extra={"job_id": self._job.job_id})
