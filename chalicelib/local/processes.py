"""The local stack's child processes: they die with the process that started them, the stack waits for them
while they live (saying what it waits for), and stopping them never leaves one behind.

Each child is a Python process that calls ``die_with_parent()`` first: Linux's parent-death signal, so a
``kill -9`` of ``make run`` ends its children too (and the worker, on that signal, ends its own process
group: a running ffmpeg with it).
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import requests

PARENT_PID = "PRSNL_PARENT_PID"  # set by the stack for its children: the parent they must die with
PR_SET_PDEATHSIG = 1
SAY_EVERY_SECONDS = 10


class StartError(RuntimeError):
    pass


def die_with_parent(sig: int = signal.SIGTERM, *, parent: int | None = None) -> None:
    """Ask for ``sig`` when the parent (the stack, from PRSNL_PARENT_PID, or ``parent``) dies; exit at once when
    it is already gone (the race before the call)."""
    parent = parent or os.environ.get(PARENT_PID)
    if parent is None:
        return
    if sys.platform.startswith("linux"):
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, sig)
    if os.getppid() != int(parent):
        os._exit(1)


def spawn(module: str, *args: str, env: dict, log: Path | None, cwd: Path) -> subprocess.Popen:
    """``python -m module args`` in its own session (Ctrl-C reaches only the stack, which stops it in order),
    output appended to ``log`` (or this process's, without one)."""
    if log is not None:
        log.parent.mkdir(parents=True, exist_ok=True)
    with log.open("ab") if log is not None else contextlib.nullcontext() as out:
        return subprocess.Popen([sys.executable, "-m", module, *args], cwd=cwd, stdin=subprocess.DEVNULL,
                                stdout=out, stderr=subprocess.STDOUT, start_new_session=True,
                                env={**env, PARENT_PID: str(os.getpid())})


@contextlib.contextmanager
def own_terminal():
    """Make this process the terminal's foreground process group while the block runs, so Ctrl-C reaches the
    stack alone: ``make`` then sees its recipe exit 0 instead of dying of the interrupt itself (and printing
    ``make: *** [run] Interrupt``). Without a terminal (tests, CI, a pipe) nothing changes."""
    if not os.isatty(0) or os.tcgetpgrp(0) != os.getpgrp() or os.getpid() == os.getsid(0):
        yield
        return
    before = os.getpgrp()
    os.setpgid(0, 0)
    _foreground(os.getpgrp())
    try:
        yield
    finally:
        _foreground(before)


def _foreground(group: int) -> None:
    """``tcsetpgrp`` from a background group stops the caller with SIGTTOU unless it is ignored."""
    previous = signal.signal(signal.SIGTTOU, signal.SIG_IGN)
    try:
        os.tcsetpgrp(0, group)
    finally:
        signal.signal(signal.SIGTTOU, previous)


def wait_until(check: Callable[[], bool], *, what: str, process: subprocess.Popen, timeout: float,
               say: Callable[[str], None] = print) -> None:
    """Wait while ``process`` lives and ``check`` fails, with a line every few seconds; give up after
    ``timeout`` (a loaded machine is slow, not broken: the limit is generous and a setting)."""
    started = time.monotonic()
    next_line = started + SAY_EVERY_SECONDS
    while not _answers(check):
        if process.poll() is not None:
            raise StartError(f"{what} exited with status {process.returncode} while starting")
        now = time.monotonic()
        if now - started > timeout:
            raise StartError(f"{what} did not answer within {timeout:g} s (PRSNL_START_TIMEOUT_SECONDS)")
        if now >= next_line:
            say(f"  waiting for {what} to answer ({now - started:.0f} s)...")
            next_line = now + SAY_EVERY_SECONDS
        time.sleep(0.1)


def _answers(check: Callable[[], bool]) -> bool:
    try:
        return bool(check())
    except requests.RequestException:
        return False


def stop(processes: list[subprocess.Popen], *, grace: float = 10) -> None:
    """SIGTERM to each child's process group (its own children too), SIGKILL to what is left after ``grace``."""
    for process in processes:
        _signal_group(process, signal.SIGTERM)
    deadline = time.monotonic() + grace
    for process in processes:
        try:
            process.wait(timeout=max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            _signal_group(process, signal.SIGKILL)
            process.wait()
        _signal_group(process, signal.SIGKILL)  # what it started and left (its group outlives it)


def _signal_group(process: subprocess.Popen, sig: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(process.pid, sig)


def end_own_group_on_sigterm() -> None:
    """For a child that starts its own processes (the worker's ffmpeg): SIGTERM, from the stack or from the
    parent-death signal, ends the whole process group."""
    signal.signal(signal.SIGTERM, lambda *_: os.killpg(os.getpgrp(), signal.SIGKILL))


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
