"""Shared fixtures: a clean environment per test, AWS on in-process moto, the media server, test media,
the Chalice test client, a seeded user and a helper that drains the queue through the worker handler."""

from __future__ import annotations

import json
import logging
import os
from dataclasses import dataclass

import moto  # noqa: F401  first: botocore sessions copy its handlers when made, and chalicelib.aws keeps one
import pytest

from tests import media as test_media

TEST_ENV = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_SECURITY_TOKEN": "testing",
    "AWS_SESSION_TOKEN": "testing",
    "AWS_DEFAULT_REGION": "us-east-1",
    "AWS_REGION": "us-east-1",
    "PRSNL_STAGE": "local",
    "PRSNL_RETRY_BACKOFF_SECONDS": "0",
    "PRSNL_PROGRESS_INTERVAL_SECONDS": "0.2",
    "PRSNL_WATCH_SECRET": "test-watch-secret",
    "POWERTOOLS_SERVICE_NAME": "prsnl-test",
}


def reset_caches() -> None:
    from chalicelib import aws, wiring
    from chalicelib.config import get_settings

    get_settings.cache_clear()
    aws.reset()
    wiring.reset()


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch):
    """Every test starts from the same settings and no cached client or adapter."""
    for name in list(os.environ):
        if name.startswith(("PRSNL_", "AWS_ENDPOINT_URL")):
            monkeypatch.delenv(name)
    for name, value in TEST_ENV.items():
        monkeypatch.setenv(name, value)
    reset_caches()
    yield
    reset_caches()


@pytest.fixture
def settings_env(monkeypatch):
    """Change settings inside a test: ``settings_env(PRSNL_MAX_VIDEO_BYTES="1000")``."""

    def apply(**values):
        for name, value in values.items():
            monkeypatch.setenv(name, str(value))
        reset_caches()

    return apply


@pytest.fixture
def mocked_aws():
    """In-process moto with the stage's bucket, tables and queues, made by the local bootstrap."""
    from moto import mock_aws

    from chalicelib.config import get_settings
    from chalicelib.local.bootstrap import bootstrap

    with mock_aws():
        queues = bootstrap(get_settings())
        yield queues


@pytest.fixture(autouse=True)
def atomic_dynamodb():
    """DynamoDB applies each write and each transaction atomically (conditions, then updates); moto checks and
    updates without a lock, so concurrent writes can interleave there, and a read beside a write can fail. Give
    moto DynamoDB's guarantee in every test (in-process moto and the moto server fixture alike: a worker thread
    beside the test's own calls is enough to meet the race), as the local stack's moto server has it."""
    from chalicelib.local.moto_server import make_writes_atomic

    _lock, undo = make_writes_atomic()
    yield
    undo()


@pytest.fixture(scope="session")
def moto_server():
    """A moto server on loopback for the session (what `make run` talks to); state reset per test."""
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    yield f"http://{host}:{port}"
    server.stop()


@pytest.fixture
def aws_server(moto_server, monkeypatch):
    """Like ``aws`` but through the moto server over HTTP, as the local stack's processes are."""
    import requests

    from chalicelib.config import get_settings
    from chalicelib.local.bootstrap import bootstrap

    requests.post(f"{moto_server}/moto-api/reset", timeout=5).raise_for_status()
    monkeypatch.setenv("AWS_ENDPOINT_URL", moto_server)
    reset_caches()
    return bootstrap(get_settings())


@dataclass
class SeededUser:
    user_id: str
    api_key: str

    @property
    def headers(self) -> dict:
        return {"Authorization": f"Bearer {self.api_key}", "Content-Type": "application/json"}


def seed_user(user_id: str, *, quota_bytes: int = 10 * 1024**3, is_admin: bool = False) -> SeededUser:
    from chalicelib import wiring
    from chalicelib.records import apikeys, users

    now = wiring.services().clock.now()
    users.create_user(user_id, name=user_id.title(), quota_bytes=quota_bytes, now=now, is_admin=is_admin)
    return SeededUser(user_id, apikeys.issue_key(user_id, now=now))


@pytest.fixture
def user(mocked_aws) -> SeededUser:
    return seed_user("alice")


@pytest.fixture
def other_user(mocked_aws) -> SeededUser:
    return seed_user("bob")


@pytest.fixture
def client(mocked_aws):
    from chalice.test import Client

    from app import app

    with Client(app, stage_name="local") as test_client:
        yield test_client


@pytest.fixture
def drain(mocked_aws):
    """Run what is on the jobs queue through the real worker handler, as Lambda would."""
    from chalicelib import wiring
    from chalicelib.local import worker_loop

    def run(max_batches: int = 100) -> int:
        return worker_loop.drain(wiring.services().queue, max_batches=max_batches)

    return run


@pytest.fixture(scope="session")
def media_dir(tmp_path_factory):
    """Small test media, generated once per session with ffmpeg's lavfi sources."""
    root = tmp_path_factory.mktemp("media")
    test_media.make_clip(root / "clip.mp4", seconds=2)
    test_media.make_webm(root / "clip.webm", seconds=2)
    test_media.make_mkv(root / "clip.mkv", seconds=2)
    test_media.make_corrupt(root / "corrupt.mp4")
    return root


@pytest.fixture(scope="session")
def recorded_media(media_dir):
    """The media of every recorded platform answer (tests/fixtures/platforms), at the paths it names under ``{media}``:
    a 1 s clip, a 0.6 s silent "GIF" (X's /tweet_video/), a JPEG for pictures."""
    import re
    import shutil

    from tests.fakes import FIXTURES

    clip = test_media.make_clip(media_dir / "post-clip.mp4", seconds=1, width=160, height=120)
    gif = test_media.make_gif_like(media_dir / "post-gif.mp4", width=240, height=136)
    picture = media_dir / "post-picture.jpg"
    test_media.ffmpeg("-f", "lavfi", "-i", "testsrc2=size=640x800", "-frames:v", "1", str(picture))
    for fixture in FIXTURES.glob("*.json"):
        for path in re.findall(r"\{media\}/([^\"?]+)", fixture.read_text()):
            source = gif if "/tweet_video/" in path else picture if path.endswith((".jpg", ".jpeg")) else clip
            (media_dir / path).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy(source, media_dir / path)
    return media_dir


@pytest.fixture(scope="session")
def media_server(media_dir):
    from chalicelib.local.samples import MediaServer

    server = MediaServer(media_dir).start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def clip480_url(media_dir, media_server):
    """A 640x480 clip (480p): renditions below it can be made, above it are refused."""
    path = media_dir / "clip480.mp4"
    if not path.exists():
        test_media.make_clip(path, seconds=1, width=640, height=480)
    return media_server.url("files", path.name)


@dataclass
class LambdaContext:
    function_name: str = "prsnl-worker-test"
    memory_limit_in_mb: int = 3008
    invoked_function_arn: str = "arn:aws:lambda:us-east-1:000000000000:function:prsnl-worker-test"
    aws_request_id: str = "test-request"

    def get_remaining_time_in_millis(self) -> int:
        return 600_000


@pytest.fixture
def lambda_context() -> LambdaContext:
    return LambdaContext()


@pytest.fixture
def work_dir(tmp_path, settings_env):
    """The worker's temp root (PRSNL_WORK_DIR), so a test can check that nothing is left behind."""
    path = tmp_path / "work"
    path.mkdir()
    settings_env(PRSNL_WORK_DIR=path)
    return path


TELEGRAM_USER = 111  # the whitelisted Telegram user of the telegram fixture
WEBHOOK_SECRET = "test-webhook-secret_1"


@pytest.fixture
def telegram(settings_env):
    """A fake Bot API server on loopback (tests/fake_telegram.py) with the bot configured to use it."""
    from tests.fake_telegram import TOKEN, FakeBotApi

    server = FakeBotApi().start()
    settings_env(PRSNL_TELEGRAM_TOKEN=TOKEN, PRSNL_TELEGRAM_WEBHOOK_SECRET=WEBHOOK_SECRET,
                 PRSNL_TELEGRAM_API_URL=server.url, PRSNL_TELEGRAM_ALLOWED_USERS=f"{TELEGRAM_USER},222",
                 PRSNL_TELEGRAM_EDIT_INTERVAL_SECONDS="0")
    yield server
    server.stop()



class LogCapture(logging.Handler):
    """Log lines exactly as a handler writes them (our JSON logger's, or a library's through the root logger)."""

    def __init__(self, formatter: logging.Formatter):
        super().__init__()
        self.setFormatter(formatter)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(self.format(record))

    def records(self) -> list[dict]:
        return [json.loads(line) for line in self.lines]


@pytest.fixture(autouse=True)
def app_logs():
    """Every test's log lines, ours (JSON; as dicts: ``app_logs.records()``) and the libraries'; a line with
    an API key, a Bearer or bot token or a cookie fails the test that wrote it."""
    from chalicelib.observability import find_secrets, logger

    ours, theirs = LogCapture(logger.registered_formatter), LogCapture(logging.Formatter("%(name)s %(message)s"))
    logger.addHandler(ours)
    theirs.addFilter(lambda record: record.name != logger.name)  # ours were captured formatted, as written
    logging.getLogger().addHandler(theirs)
    yield ours
    logger.removeHandler(ours)
    logging.getLogger().removeHandler(theirs)
    leaked = find_secrets("\n".join(ours.lines + theirs.lines))
    assert not leaked, f"secrets reached the logs: {leaked}"
