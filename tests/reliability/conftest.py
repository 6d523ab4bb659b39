"""The fault suite's stack: the local stack's moto server (with DynamoDB's atomicity), worker processes that can
be SIGKILLed, and the checks every scenario ends with (nothing lost, stuck, duplicated or leaked). Each scenario
adds a row to the table printed at the end of the run (``make test-reliability``)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import pytest
import requests

from chalicelib.local.stack import free_port

ROOT = Path(__file__).resolve().parents[2]
LEASE_SECONDS = 4  # a dead worker's job is claimed again about 9 s (lease + 5 s) after its last renewal
REPORT = ROOT / ".fault-report.jsonl"  # rows from every pytest-xdist worker, printed by the controller


@pytest.fixture(scope="session")
def fault_moto():
    port = free_port()
    process = subprocess.Popen([sys.executable, "-m", "chalicelib.local.moto_server", str(port)],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    wait_until(lambda: _answers(url), what="the moto server")
    yield url
    process.terminate()
    process.wait(timeout=20)


def _answers(url: str) -> bool:
    try:
        return requests.get(f"{url}/moto-api/", timeout=1).ok
    except requests.RequestException:
        return False


def wait_until(check, *, seconds: float = 180, what: str):
    deadline = time.monotonic() + seconds
    while not (result := check()):
        assert time.monotonic() < deadline, f"timed out after {seconds:.0f} s waiting for {what}"
        time.sleep(0.1)
    return result


@pytest.fixture
def fault_env(fault_moto, monkeypatch, tmp_path) -> dict:
    """The settings of the stack's processes (the test process reads them too), on a fresh moto state."""
    from chalicelib.config import get_settings
    from chalicelib.local.bootstrap import bootstrap
    from tests.conftest import reset_caches, seed_user

    requests.post(f"{fault_moto}/moto-api/reset", timeout=10).raise_for_status()
    work = tmp_path / "work"
    work.mkdir()
    env = {"AWS_ENDPOINT_URL": fault_moto, "PRSNL_JOB_LEASE_SECONDS": str(LEASE_SECONDS),
           "PRSNL_RETRY_BACKOFF_SECONDS": "1", "PRSNL_ALLOW_LOOPBACK_URLS": "true", "PRSNL_WORK_DIR": str(work),
           "PRSNL_PROGRESS_INTERVAL_SECONDS": "0.2"}
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    reset_caches()
    bootstrap(get_settings())
    seed_user("alice")
    return {**{k: v for k, v in os.environ.items() if not k.startswith("PYTEST")}, **env}


@dataclass
class Worker:
    process: subprocess.Popen

    @classmethod
    def start(cls, env: dict) -> Worker:
        return cls(subprocess.Popen([sys.executable, "-m", "tests.reliability.run_worker"], cwd=ROOT, env=env,
                                    stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True))

    def kill(self) -> None:
        """SIGKILL the worker and what it started (ffmpeg): a crash, nothing cleaned up."""
        os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(timeout=20)

    def stop(self) -> None:
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=60)
            except subprocess.TimeoutExpired:
                self.kill()


@pytest.fixture
def workers(fault_env):
    started: list[Worker] = []

    def start() -> Worker:
        started.append(Worker.start(fault_env))
        return started[-1]

    yield start
    for worker in started:
        worker.stop()


@dataclass
class Outcome:
    """What a scenario's end state holds, for its row and its asserts."""

    tried: int
    ready: int
    failed_with_code: int
    stuck: int
    duplicated: int
    leaked: list[str]

    @property
    def lost(self) -> int:
        return self.tried - self.ready - self.failed_with_code


def outcome(tried: int) -> Outcome:
    """Jobs, records, objects, counters and the DLQ after a scenario, as maintenance would find them."""
    from chalicelib import aws, wiring
    from chalicelib.records import jobs, videos
    from chalicelib.records.models import Job, User, Video

    services = wiring.services()
    work_dir = Path(services.settings.work_dir)
    all_jobs, records = list(Job.scan(consistent_read=True)), list(Video.scan(consistent_read=True))
    ready = [v for v in records if v.status == videos.READY]
    failed = [v for v in records if v.status == videos.FAILED and v.error_code]
    stuck = [j for j in all_jobs if j.status not in jobs.FINISHED]
    s3, bucket = aws.client("s3"), services.settings.bucket
    versions = s3.list_object_versions(Bucket=bucket).get("Versions", [])
    current = {v["Key"] for v in versions if v["IsLatest"]}
    duplicated = sum(1 for v in ready for key in videos.stored_keys(v)
                     if sum(1 for version in versions if version["Key"] == key) != 1)
    leaked = [f"orphan {key}" for key in sorted(current - {k for v in ready for k in videos.stored_keys(v)})]
    leaked += [f"temp {obj['Key']}" for obj in services.storage.list("temp/")]
    leaked += [f"upload {u['Key']}" for u in services.storage.uploads()]
    leaked += [f"work dir {path.name}" for path in work_dir.iterdir()]
    for owner in User.scan(consistent_read=True):
        mine = [v for v in ready if v.owner_id == owner.user_id]
        stored = sum(v.bytes_stored for v in mine)
        if (owner.bytes_used, owner.bytes_reserved, owner.video_count) != (stored, 0, len(mine)) or \
                owner.bytes_available != owner.quota_bytes - stored:
            leaked.append(f"{owner.user_id}'s counters used={owner.bytes_used} reserved={owner.bytes_reserved} "
                          f"count={owner.video_count} available={owner.bytes_available}; records hold {stored}")
    dlq = aws.client("sqs").get_queue_url(QueueName=services.settings.jobs_dlq)["QueueUrl"]
    dead = int(aws.client("sqs").get_queue_attributes(QueueUrl=dlq, AttributeNames=[
        "ApproximateNumberOfMessages"])["Attributes"]["ApproximateNumberOfMessages"])
    if dead:
        leaked.append(f"{dead} message(s) in the DLQ")
    return Outcome(tried, len(ready), len(failed), len(stuck), duplicated, leaked)


def report(scenario: str, result: Outcome, **figures) -> None:
    row = {"scenario": scenario, "tried": result.tried, "held": result.ready + result.failed_with_code,
           "lost": result.lost, "stuck": result.stuck, "duplicated": result.duplicated,
           "leaked": len(result.leaked), **figures}
    with REPORT.open("a") as out:
        out.write(json.dumps(row) + "\n")


def pytest_sessionstart(session):
    if not hasattr(session.config, "workerinput"):  # the controller (or a run without xdist)
        REPORT.unlink(missing_ok=True)


def pytest_terminal_summary(terminalreporter):
    if not REPORT.exists():
        return
    rows = [json.loads(line) for line in REPORT.read_text().splitlines()]
    REPORT.unlink()
    terminalreporter.section("fault suite")
    head = f"{'scenario':<44} {'tried':>5} {'held':>5} {'lost':>5} {'stuck':>5} {'dup':>5} {'leaked':>6}  notes"
    terminalreporter.write_line(head)
    for row in rows:
        notes = ", ".join(f"{k}={v}" for k, v in row.items() if k not in (
            "scenario", "tried", "held", "lost", "stuck", "duplicated", "leaked"))
        terminalreporter.write_line(f"{row['scenario']:<44} {row['tried']:>5} {row['held']:>5} {row['lost']:>5} "
                                    f"{row['stuck']:>5} {row['duplicated']:>5} {row['leaked']:>6}  {notes}")
