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


@pytest.fixture(scope="session")
def local_stack(tmp_path_factory):
    """Start ``python -m chalicelib.local.stack``; yields its stack.json (api_url, api_key, samples...)."""
    state = tmp_path_factory.mktemp("stack")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PRSNL_", "AWS_"))}
    env.update(PRSNL_LOCAL_DIR=str(state), PRSNL_API_PORT=str(free_port()), PRSNL_AWS_PORT=str(free_port()),
               PRSNL_SAMPLES_PORT=str(free_port()), PYTHONUNBUFFERED="1")
    log = (state / "stack.log").open("w")
    process = subprocess.Popen([sys.executable, "-m", "chalicelib.local.stack"], cwd=ROOT, env=env,
                               stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    stack_file = state / "stack.json"
    deadline = time.monotonic() + 120
    while not stack_file.exists():
        if process.poll() is not None or time.monotonic() > deadline:
            process.kill()
            pytest.fail(f"the local stack did not start:\n{(state / 'stack.log').read_text()[-3000:]}")
        time.sleep(0.2)
    summary = json.loads(stack_file.read_text())
    summary["log"] = state / "stack.log"
    summary["process"] = process
    yield summary
    os.killpg(process.pid, signal.SIGINT)
    try:
        process.wait(timeout=20)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
    log.close()


@pytest.fixture
def stack_aws_env(local_stack, monkeypatch):
    """Point boto3 in the test process at the stack's moto server."""
    from tests.conftest import reset_caches

    monkeypatch.setenv("AWS_ENDPOINT_URL", local_stack["aws_endpoint_url"])
    reset_caches()
    return local_stack
