"""How many of one worker process's jobs may be in each kind of step at once.

Waiting steps (metadata, download, upload) and busy ones (transcode, remux, thumbnails) take separate slots:
ten downloads overlap while the encoders get the cores and no more. In Lambda a process runs one job, so the
slots never wait there; the local worker loop runs many jobs in one process.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass


@dataclass(frozen=True)
class StepSlots:
    io: threading.BoundedSemaphore
    cpu: threading.BoundedSemaphore

    @classmethod
    def of(cls, *, io: int, cpu: int) -> StepSlots:
        return cls(threading.BoundedSemaphore(max(1, io)), threading.BoundedSemaphore(max(1, cpu)))
