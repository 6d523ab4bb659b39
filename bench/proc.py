"""The benches' reading of /proc/<pid>/stat: a process's parent, CPU seconds and RSS, for processes the benches
started in other sessions (getrusage sees only this process and the children that ended)."""

from __future__ import annotations

import os
from pathlib import Path


def stat_fields(pid: int | str) -> list[str] | None:
    """The fields after the command name (state, ppid, ...; utime and stime at 11 and 12, rss in pages at 21), or
    None once the process is gone."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None


def cpu_seconds(fields: list[str]) -> float:
    """User + system CPU seconds of a process from its ``stat_fields``."""
    return sum(user_and_system(fields))


def user_and_system(fields: list[str]) -> tuple[float, float]:
    """A process's user and system (kernel) CPU seconds from its ``stat_fields``."""
    tick = os.sysconf("SC_CLK_TCK")
    return int(fields[11]) / tick, int(fields[12]) / tick


def rss_bytes(fields: list[str]) -> int:
    return int(fields[21]) * os.sysconf("SC_PAGE_SIZE")


def pids() -> list[str]:
    return [entry.name for entry in Path("/proc").iterdir() if entry.name.isdigit()]


def user_and_system_of(pid: int) -> tuple[float, float]:
    return user_and_system(stat_fields(pid))
