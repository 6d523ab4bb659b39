"""How many of one worker process's jobs may be in each kind of step at once.

Waiting steps (metadata, download, upload) and busy ones (transcode, remux, thumbnails) take separate slots:
ten downloads overlap while the encoders get the cores and no more. In Lambda a process runs one job, so the
slots never wait there; the local worker loop runs many jobs in one process.

The cores are handed out by turn: a job takes a turn at its first busy step and keeps it for the others, so a
capture's probe, remux and thumbnails follow each other and its upload overlaps the next capture's encoding. Handed
out in the order of asking, ten captures whose downloads ended together each probed, then each remuxed, then each
made thumbnails, and all ten uploaded at the end, when moto (one process) left a core idle.
"""

from __future__ import annotations

import heapq
import itertools
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass


class ByTurn:
    """``count`` slots, each free one going to the waiter with the lowest turn."""

    def __init__(self, count: int):
        self._free = count
        self._changed = threading.Condition()
        self._turns = itertools.count()
        self._waiting: list[int] = []  # a heap of the turns waiting

    def turn(self) -> int:
        """A new turn, after every one handed out before it."""
        return next(self._turns)

    def waiting(self) -> int:
        """How many turns wait for a slot (the tests wait for a state with it)."""
        with self._changed:
            return len(self._waiting)

    @contextmanager
    def held(self, turn: int) -> Iterator[None]:
        with self._changed:
            heapq.heappush(self._waiting, turn)
            try:
                self._changed.wait_for(lambda: self._free and self._waiting[0] == turn)
            except BaseException:  # a turn left waiting would stop every later one
                self._waiting.remove(turn)
                heapq.heapify(self._waiting)
                self._changed.notify_all()
                raise
            heapq.heappop(self._waiting)
            self._free -= 1
            self._changed.notify_all()  # a slot may still be free for the next turn
        try:
            yield
        finally:
            with self._changed:
                self._free += 1
                self._changed.notify_all()


@dataclass(frozen=True)
class StepSlots:
    io: threading.BoundedSemaphore
    cpu: ByTurn

    @classmethod
    def of(cls, *, io: int, cpu: int) -> StepSlots:
        return cls(threading.BoundedSemaphore(max(1, io)), ByTurn(max(1, cpu)))
