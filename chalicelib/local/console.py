"""What ``make run`` prints after its banner: one line per job event (queued, ready, failed). The JSON logs
and EMF metric lines of every process go to the log files under ``.local/logs/``; ``PRSNL_LOG_FORMAT=json``
puts them back on the console."""

from __future__ import annotations

import json
import os
import sys
import threading
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import TextIO

from chalicelib.local.moto_server import TablesCopy
from chalicelib.observability import logger
from chalicelib.records import jobs, videos
from chalicelib.records.models import Job, Video

REPORTED = (jobs.QUEUED, jobs.SUCCEEDED, jobs.FAILED)


def event_lines(job: Job, video: Video | None) -> list[tuple[tuple, str]]:
    """The console lines of ``job``'s events so far, each with the key it is reported once under: its first
    queueing (a job may be queued and finished between two looks), then its current status."""
    what = f"{job.kind} of {video.source_url}" if video is not None else job.kind
    lines = [((job.job_id, jobs.QUEUED, 0), f"{_clock(job.created_at)}  queued   {what}  job {job.job_id}")]
    if job.status == jobs.QUEUED and job.attempts:
        lines.append(((job.job_id, jobs.QUEUED, job.attempts),
                      f"{_clock(job.updated_at)}  queued   {what} (attempt {job.attempts + 1})  job {job.job_id}"))
    elif job.status == jobs.FAILED:
        lines.append(((job.job_id, jobs.FAILED), f"{_clock(job.updated_at)}  failed   {what}: {job.error_code}: "
                                                 f"{job.error_message}  job {job.job_id}"))
    elif job.status == jobs.SUCCEEDED:
        title = f'"{video.title}"' if video is not None and video.title else "(untitled)"
        size = f"{(video.filesize or 0) / 1e6:.1f} MB" if video is not None else "?"
        lines.append(((job.job_id, jobs.SUCCEEDED), f"{_clock(job.updated_at)}  ready    {title}  {size}  "
                                                    f"video {job.video_id}"))
    return lines


def _clock(moment: datetime) -> str:
    return moment.astimezone().strftime("%H:%M:%S")


class JobEvents:
    """The job events since ``since``, each reported once, read from a copy of the jobs table that each look brings
    up to date with the jobs written since the last (moto answers an index query by reading and sorting the whole
    table: three a second were half of its time under a burst of captures)."""

    def __init__(self, since: datetime, jobs_table: TablesCopy):
        self.since, self.jobs_table = since, jobs_table
        self.seen: set[tuple] = set()

    def new_lines(self) -> list[str]:
        written = self.jobs_table.refresh().get(Job.Meta.table_name, [])
        changed = [job for job in (Job.from_raw_data(json.loads(line)) for line in written)
                   if job.status in REPORTED and job.updated_at >= self.since]
        lines = []
        for job in sorted(changed, key=lambda job: job.updated_at):
            for key, line in event_lines(job, videos.find(job.video_id)):
                if key not in self.seen:
                    self.seen.add(key)
                    lines.append(line)
        return lines


def report_job_events(events: JobEvents, say: Callable[[str], None], *, interval: float,
                      stop: threading.Event) -> None:
    """Print the job events every ``interval`` seconds until ``stop``."""
    while not stop.wait(interval):
        try:
            for line in events.new_lines():
                say(line)
        except Exception:  # moto busy or going away: the next look catches up
            logger.exception("reading the job events failed; trying again")


def logs_to_file(path: Path) -> TextIO:
    """Send this process's stdout and stderr (JSON logs, EMF lines, tracebacks) to ``path``, at the file
    descriptors, so every writer follows; returns the console."""
    sys.stdout.flush()
    sys.stderr.flush()
    console = os.fdopen(os.dup(1), "w", buffering=1)
    path.parent.mkdir(parents=True, exist_ok=True)
    log = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    os.dup2(log, 1)
    os.dup2(log, 2)
    os.close(log)
    return console


class WholeLines:
    """A process's stdout for threads that print: ``print`` writes a line and its newline in two calls, so the lines
    of two jobs at once could join into one that is no JSON (Powertools prints each EMF metrics document). Each
    thread's text goes out a whole line at a time; what a thread leaves unfinished goes out at its next flush."""

    def __init__(self, stream: TextIO):
        self._stream, self._pending = stream, threading.local()

    def write(self, text: str) -> int:
        whole, newline, rest = (getattr(self._pending, "text", "") + text).rpartition("\n")
        self._pending.text = rest
        if newline:
            self._stream.write(whole + newline)
        return len(text)

    def flush(self) -> None:
        if rest := getattr(self._pending, "text", ""):
            self._pending.text = ""
            self._stream.write(rest)
        self._stream.flush()

    def __getattr__(self, name: str):
        return getattr(self._stream, name)  # fileno, encoding, isatty...


def printer(console: TextIO) -> Callable[[str], None]:
    return lambda text: print(text, file=console, flush=True)
