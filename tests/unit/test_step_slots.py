"""The cores go by turn: a job that has had a busy step goes before the jobs that have not (``pipeline.slots``)."""

from __future__ import annotations

import threading

from chalicelib.pipeline.slots import ByTurn
from tests.e2e.conftest import wait_for

DEADLINE_SECONDS = 30


def test_a_freed_core_goes_to_the_lowest_turn_waiting_not_the_first_to_ask():
    # GIVEN one core, held by the job with the first turn; two later jobs take their turns
    cores = ByTurn(1)
    first, second, third = cores.turn(), cores.turn(), cores.turn()
    order = []

    def step(turn: int) -> None:
        with cores.held(turn):
            order.append(turn)

    with cores.held(first):
        # WHEN the third asks for the core before the second does
        waiters = [threading.Thread(target=step, args=(third,))]
        waiters[0].start()
        wait_for(lambda: cores.waiting() == 1, what="the third waiting")
        waiters.append(threading.Thread(target=step, args=(second,)))
        waiters[1].start()
        wait_for(lambda: cores.waiting() == 2, what="both waiting")
    for waiter in waiters:
        waiter.join(DEADLINE_SECONDS)
    # THEN the second has it first, then the third
    assert order == [second, third]


def test_as_many_steps_run_at_once_as_there_are_cores_and_no_more():
    # GIVEN two cores and three jobs whose steps wait inside until told to end
    cores, inside, most, end = ByTurn(2), [], [0], threading.Event()
    lock = threading.Lock()

    def step(turn: int) -> None:
        with cores.held(turn):
            with lock:
                inside.append(turn)
                most[0] = max(most[0], len(inside))
            end.wait(DEADLINE_SECONDS)
            with lock:
                inside.remove(turn)

    threads = [threading.Thread(target=step, args=(cores.turn(),)) for _ in range(3)]
    for thread in threads:
        thread.start()
    # WHEN two are inside and the third waits
    wait_for(lambda: len(inside) == 2 and cores.waiting() == 1, what="two inside, one waiting")
    end.set()
    for thread in threads:
        thread.join(DEADLINE_SECONDS)
    # THEN all three ran, never more than two at once, and every slot is free again
    assert most == [2] and inside == [] and cores.waiting() == 0
    def take_both() -> None:
        with cores.held(cores.turn()), cores.held(cores.turn()):
            pass

    both = threading.Thread(target=take_both)
    both.start()
    both.join(DEADLINE_SECONDS)
    assert not both.is_alive() and cores.waiting() == 0
