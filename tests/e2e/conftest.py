"""The local stack exactly as ``make run`` starts it (subprocesses, free ports), shared by the e2e tests."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from chalicelib.local.stack import free_port

ROOT = Path(__file__).resolve().parents[2]


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


STACK_BOT_USER = 5151  # the Telegram user the stack's bot serves (its webhook, answered on a fake Bot API)
STACK_WEBHOOK_SECRET = "stack-webhook-secret"


@pytest.fixture(scope="session")
def stack_telegram():
    """The fake Bot API the stack's webhook and worker talk to."""
    from tests.fake_telegram import FakeBotApi

    api = FakeBotApi().start()
    yield api
    api.stop()


@pytest.fixture(scope="session")
def stack_webhook():
    """The outgoing webhook's receiver the stack's worker delivers events to."""
    from tests.webhook_receiver import Receiver

    receiver = Receiver().start()
    yield receiver
    receiver.stop()


@pytest.fixture(scope="session")
def local_stack(tmp_path_factory, stack_telegram, stack_webhook):
    """The stack started once for the session; yields its stack.json (api_url, api_key, samples...), the fake
    Bot API its bot answers on (``telegram``) and the receiver of its webhook (``webhook``)."""
    from tests.fake_telegram import TOKEN
    from tests.webhook_receiver import SECRET

    stack = start_stack(stack_env(
        tmp_path_factory.mktemp("stack"), PRSNL_TELEGRAM_TOKEN=TOKEN, PRSNL_TELEGRAM_API_URL=stack_telegram.url,
        PRSNL_TELEGRAM_WEBHOOK_SECRET=STACK_WEBHOOK_SECRET, PRSNL_TELEGRAM_ALLOWED_USERS=str(STACK_BOT_USER),
        PRSNL_TELEGRAM_EDIT_INTERVAL_SECONDS="0", PRSNL_WEBHOOK_URL=stack_webhook.url, PRSNL_WEBHOOK_SECRET=SECRET))
    stack["telegram"] = stack_telegram
    stack["webhook"] = stack_webhook
    yield stack
    stop_stack(stack)


@pytest.fixture
def stack_aws_env(local_stack, monkeypatch):
    """Point boto3 in the test process at the stack's moto server."""
    from tests.conftest import reset_caches

    monkeypatch.setenv("AWS_ENDPOINT_URL", local_stack["aws_endpoint_url"])
    reset_caches()
    return local_stack


# -- the browser: headless Chromium (Debian's ``chromium``) driven by Playwright ---------------------------------
# Playwright's own browser download cannot work here, so the system browser is launched by path. Without it the
# browser tests are skipped with a reason that says so (``make test`` prints skip reasons); with ``CI`` set, a
# missing browser fails instead. Screenshots go to ``.artifacts/browser/`` (gitignored), with the figures the
# run measured in ``figures.json``.
ARTIFACTS = ROOT / ".artifacts" / "browser"
CHROMIUM = os.environ.get("CHROMIUM_PATH") or shutil.which("chromium") or "/usr/bin/chromium"


@pytest.fixture(scope="module")
def browser():
    """Chromium for one test module: Playwright's sync API keeps an asyncio loop running in this thread while it
    is open, and the bot's code (``asyncio.run``) cannot run in a thread with a running loop."""
    if not Path(CHROMIUM).exists():
        message = (f"BROWSER TESTS NOT RUN: no Chromium at {CHROMIUM} "
                   "(apt-get install chromium, or set CHROMIUM_PATH to it)")
        if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
            pytest.fail(message)
        pytest.skip(message)
    from playwright.sync_api import sync_playwright

    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as playwright:
        # --no-sandbox: CI runs as root in a container, where Chromium's sandbox cannot start
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox", "--mute-audio"])
        yield chromium
        chromium.close()


@pytest.fixture
def figures():
    """Measured figures, kept with the screenshots (and printed: ``pytest -s`` shows them)."""
    found: dict = {}
    yield found
    path = ARTIFACTS / "figures.json"
    previous = json.loads(path.read_text()) if path.exists() else {}
    path.write_text(json.dumps({**previous, **found}, indent=2) + "\n")
    print(json.dumps(found))


@pytest.fixture
def screenshot():
    """``screenshot(page, name)``: the page as the test saw it, kept as an artifact."""
    return lambda page, name: page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)
