"""`make run`'s console as a person sees it: the banner, then one line per job event; the JSON logs and EMF
lines in the log files (or on the console with PRSNL_LOG_FORMAT=json); Ctrl-C under `make` ends with one
"stopped" line and status 0, without make's own interrupt line."""

from __future__ import annotations

import json
import os
import pty
import select
import sys
import time
from pathlib import Path

import pytest

from tests.e2e.conftest import ROOT, stack_env, start_stack, stop_stack, wait_for
from tests.e2e.test_persistence import capture, finished

pytestmark = pytest.mark.e2e


def console_lines(stack: dict) -> list[str]:
    return stack["log"].read_text().splitlines()


def json_lines(lines: list[str]) -> list[dict]:
    found = []
    for line in lines:
        try:
            found.append(json.loads(line))
        except ValueError:
            continue
    return [item for item in found if isinstance(item, dict)]


def test_console_has_one_line_per_job_event_and_the_logs_go_to_files(tmp_path):
    stack = start_stack(stack_env(tmp_path / "stack"))
    try:
        good = capture(stack, stack["samples"][0])
        bad = capture(stack, stack["samples"][0].replace("/files/", "/files/missing-"))
        assert finished(stack, good["job_id"])["status"] == "succeeded"
        assert finished(stack, bad["job_id"])["status"] == "failed"
        wait_for(lambda: sum(f"job {bad['job_id']}" in line for line in console_lines(stack)) == 2,
                 what="the failed job's two lines")
        wait_for(lambda: any(f"video {good['video_id']}" in line for line in console_lines(stack)),
                 what="the ready line")
    finally:
        assert stop_stack(stack) == 0
    lines = console_lines(stack)
    good_lines = [line for line in lines if line.endswith((f"job {good['job_id']}", f"video {good['video_id']}"))]
    bad_lines = [line for line in lines if line.endswith(f"job {bad['job_id']}")]
    assert [line.split()[1] for line in good_lines] == ["queued", "ready"], good_lines
    assert [line.split()[1] for line in bad_lines] == ["queued", "failed"], bad_lines
    assert '"sample-h264"' in good_lines[1] and " MB " in good_lines[1], good_lines
    assert f"{stack['samples'][0].replace('/files/', '/files/missing-')}: not_found: " in bad_lines[1], bad_lines
    assert json_lines(lines) == [], "no JSON log or EMF line on the console"
    logs = Path(stack["logs"])
    assert json_lines((logs / "worker_loop.log").read_text().splitlines()), "the worker's JSON logs are in its file"
    assert (logs / "stack.log").exists()
    assert lines[-1] == "stopped"


def test_json_format_puts_the_raw_logs_on_the_console(tmp_path):
    stack = start_stack(stack_env(tmp_path / "stack", PRSNL_LOG_FORMAT="json"))
    try:
        answer = capture(stack, stack["samples"][0])
        assert finished(stack, answer["job_id"])["status"] == "succeeded"
        wait_for(lambda: any(item.get("job_id") == answer["job_id"] for item in json_lines(console_lines(stack))),
                 what="the worker's JSON log lines of the job on the console")
    finally:
        assert stop_stack(stack) == 0


def read_until(fd: int, text: str, seen: bytearray, *, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while text.encode() not in seen and time.monotonic() < deadline:
        if select.select([fd], [], [], 0.5)[0]:
            try:
                chunk = os.read(fd, 4096)
            except OSError:  # the terminal closed: everything was read
                return text.encode() in seen
            if not chunk:
                break
            seen += chunk
    return text.encode() in seen


def test_ctrl_c_under_make_prints_stopped_and_exits_0(tmp_path):
    """`make run` in a terminal, Ctrl-C typed as a person does (the terminal sends SIGINT to its foreground
    process group)."""
    env = stack_env(tmp_path / "stack")
    pid, fd = pty.fork()
    if pid == 0:  # the child: make, with this test's Python and no install step
        os.chdir(ROOT)
        os.execvpe("make", ["make", "-s", "run", f"PY={sys.executable}", "RUN_STAMP="], env)
    seen = bytearray()
    try:
        assert read_until(fd, "Job events show here", seen, timeout=240), seen.decode(errors="replace")
        os.write(fd, b"\x03")
        read_until(fd, "\nstopped", seen, timeout=120)
        read_until(fd, "<end>", seen, timeout=10)  # whatever make prints after it
    finally:
        _, status = os.waitpid(pid, 0)
        os.close(fd)
    console = seen.decode(errors="replace")
    assert os.waitstatus_to_exitcode(status) == 0, console[-2000:]
    assert console.rstrip().endswith("stopped"), console[-2000:]
    assert "Interrupt" not in console and "Error" not in console, console[-2000:]
