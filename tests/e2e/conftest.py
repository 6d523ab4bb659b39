"""The local stack exactly as ``make run`` starts it (subprocesses, free ports), shared by the e2e tests."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def stack_env(state: Path, **settings: str) -> dict:
    """The environment of a stack under ``state`` on free ports (no PRSNL_/AWS_ variable of the test run)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PRSNL_", "AWS_"))}
    env.update(PRSNL_LOCAL_DIR=str(state), PRSNL_API_PORT=str(free_port()), PRSNL_AWS_PORT=str(free_port()),
               PRSNL_SAMPLES_PORT=str(free_port()), PYTHONUNBUFFERED="1", **settings)
    return env


def launch(env: dict) -> subprocess.Popen:
    """``python -m chalicelib.local.stack`` as ``make run`` runs it, its console in ``stack.log``."""
    state = Path(env["PRSNL_LOCAL_DIR"])
    state.mkdir(parents=True, exist_ok=True)
    with (state / "stack.log").open("a") as log:
        return subprocess.Popen([sys.executable, "-m", "chalicelib.local.stack"], cwd=ROOT, env=env,
                                stdout=log, stderr=subprocess.STDOUT, start_new_session=True)


def start_stack(env: dict, timeout: float = 180) -> dict:
    """Launch the stack and wait for its stack.json; the summary carries ``process``, ``log`` and ``env``."""
    process = launch(env)
    state = Path(env["PRSNL_LOCAL_DIR"])
    deadline = time.monotonic() + timeout
    while (summary := _summary_of(state)).get("pid") != process.pid:
        if process.poll() is not None or time.monotonic() > deadline:
            os.killpg(process.pid, signal.SIGKILL)
            pytest.fail(f"the local stack did not start:\n{(state / 'stack.log').read_text()[-3000:]}")
        time.sleep(0.2)
    summary.update(log=state / "stack.log", process=process, env=env)
    return summary


def _summary_of(state: Path) -> dict:
    """stack.json as the stack wrote it (a previous run's, or none yet: {})."""
    try:
        return json.loads((state / "stack.json").read_text())
    except (OSError, ValueError):
        return {}


def stop_stack(stack: dict, timeout: float = 60) -> int:
    """Ctrl-C, as a person stops it; returns its exit status."""
    process = stack["process"]
    os.killpg(process.pid, signal.SIGINT)
    try:
        return process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        raise


def stack_pids(state: Path) -> list[int]:
    """Every live process of the stack under ``state`` (they all carry its PRSNL_LOCAL_DIR), ffmpeg included."""
    marker = f"PRSNL_LOCAL_DIR={state}".encode()
    pids = []
    for proc in Path("/proc").iterdir():
        try:
            if proc.name.isdigit() and marker in (proc / "environ").read_bytes().split(b"\0") \
                    and (proc / "stat").read_text().split(") ")[1][0] != "Z":
                pids.append(int(proc.name))
        except OSError:
            continue
    return pids


def wait_for(check, *, timeout: float = 60, what: str = "the state"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if result := check():
            return result
        time.sleep(0.1)
    raise AssertionError(f"{what} not reached within {timeout} s")


@pytest.fixture(scope="session")
def local_stack(tmp_path_factory):
    """The stack started once for the session; yields its stack.json (api_url, api_key, samples...)."""
    stack = start_stack(stack_env(tmp_path_factory.mktemp("stack")))
    yield stack
    stop_stack(stack)


@pytest.fixture
def stack_aws_env(local_stack, monkeypatch):
    """Point boto3 in the test process at the stack's moto server."""
    from tests.conftest import reset_caches

    monkeypatch.setenv("AWS_ENDPOINT_URL", local_stack["aws_endpoint_url"])
    reset_caches()
    return local_stack
