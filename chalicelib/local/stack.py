"""``make run``: the whole system on loopback — moto server, bootstrap, seeded user, chalice local,
the worker loop and the sample-media server — in the foreground until Ctrl-C.

Dev only: app.py and the worker never import this package.
"""

from __future__ import annotations

import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parents[2]
LOCAL_USER = "local"


def state_dir() -> Path:
    """Where the stack keeps its files (``.local``; PRSNL_LOCAL_DIR moves it, e.g. for tests)."""
    return Path(os.environ.get("PRSNL_LOCAL_DIR") or ROOT / ".local")


def stack_file() -> Path:
    return state_dir() / "stack.json"


def port_free(port: int) -> bool:
    with socket.socket() as sock:
        return sock.connect_ex(("127.0.0.1", port)) != 0


def wait_until(check, *, timeout: float, what: str, process: subprocess.Popen | None = None) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            raise RuntimeError(f"{what} exited with status {process.returncode}")
        try:
            if check():
                return
        except requests.RequestException:
            pass
        time.sleep(0.1)
    raise RuntimeError(f"{what} did not come up within {timeout:.0f} s")


def local_environment(aws_port: int) -> dict:
    """The variables every local process shares: moto's endpoint, dummy credentials, the watch-link key."""
    return {
        "AWS_ENDPOINT_URL": f"http://127.0.0.1:{aws_port}",
        "AWS_ACCESS_KEY_ID": os.environ.get("AWS_ACCESS_KEY_ID", "testing"),
        "AWS_SECRET_ACCESS_KEY": os.environ.get("AWS_SECRET_ACCESS_KEY", "testing"),
        "AWS_DEFAULT_REGION": os.environ.get("AWS_DEFAULT_REGION", "us-east-1"),
        "PRSNL_STAGE": "local",
        "PRSNL_WATCH_SECRET": os.environ.get("PRSNL_WATCH_SECRET") or watch_secret(),
    }


def watch_secret() -> str:
    """The key of this machine's watch links, made once and kept in .local/watch-secret: links sent in one run
    of the stack still play in the next."""
    path = state_dir() / "watch-secret"
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.touch(mode=0o600)
        path.write_text(secrets.token_urlsafe(32))
    return path.read_text().strip()


def start_moto(port: int) -> subprocess.Popen:
    command = [sys.executable, "-m", "chalicelib.local.moto_server", "-H", "127.0.0.1", "-p", str(port)]
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wait_until(lambda: requests.get(f"http://127.0.0.1:{port}/moto-api/", timeout=1).ok, timeout=30,
               what="the moto server", process=process)
    return process


def start_api(port: int, env: dict) -> subprocess.Popen:
    command = [sys.executable, "-c", "from chalice.cli import main; main()", "local", "--stage", "local",
               "--host", "127.0.0.1", "--port", str(port), "--no-autoreload"]
    process = subprocess.Popen(command, cwd=ROOT, env=env)
    wait_until(lambda: requests.get(f"http://127.0.0.1:{port}/api/health", timeout=2).ok, timeout=60,
               what="the API (chalice local)", process=process)
    return process


def seed_user(services, api_key: str | None) -> str:
    """The local user, with the key of the previous run when there is one (moto forgets; people don't)."""
    from chalicelib.records import apikeys, users

    now = services.clock.now()
    users.create_user(LOCAL_USER, name="Local user", quota_bytes=services.settings.default_quota_bytes,
                      now=now, is_admin=True)
    return apikeys.register_key(LOCAL_USER, api_key, now=now, label="make run") if api_key else \
        apikeys.issue_key(LOCAL_USER, now=now, label="make run")


def previous_key() -> str | None:
    try:
        return json.loads(stack_file().read_text()).get("api_key")
    except (OSError, ValueError):
        return None


def main() -> int:
    from chalicelib.config import load_settings

    settings = load_settings()
    for name, port in (("PRSNL_AWS_PORT", settings.aws_port), ("PRSNL_API_PORT", settings.api_port),
                       ("PRSNL_SAMPLES_PORT", settings.samples_port)):
        if not port_free(port):
            print(f"port {port} is taken (is another `make run` running?); set {name} to another port")
            return 1
    env = local_environment(settings.aws_port)
    os.environ.update(env)
    processes: list[subprocess.Popen] = []
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    try:
        started = time.monotonic()
        processes.append(start_moto(settings.aws_port))
        summary = start_services(settings, env, processes, stop)
        summary["seconds_to_healthy"] = round(time.monotonic() - started, 1)
        state_dir().mkdir(parents=True, exist_ok=True)
        stack_file().write_text(json.dumps(summary, indent=2) + "\n")
        print_summary(summary)
        while not stop.wait(0.5):
            if any(p.poll() is not None for p in processes):
                print("a stack process exited; stopping")
                return 1
    except KeyboardInterrupt:
        pass
    finally:
        stop.set()
        for process in processes:
            process.terminate()
        for process in processes:
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
        print("\nstack stopped")
    return 0


def maintenance_timer(interval: float, stop: threading.Event) -> None:
    """EventBridge's part on the local stack (chalice local runs no schedules): maintenance and the day's
    storage snapshot every ``interval`` seconds (the snapshot rewrites the day's figures)."""
    from chalicelib import wiring
    from chalicelib.observability import logger
    from chalicelib.ops import maintenance, trends

    while not stop.wait(interval):
        try:
            maintenance.run(services=wiring.services(), apply=True)
            trends.snapshot(services=wiring.services())
        except Exception:
            logger.exception("local maintenance failed; trying again next interval")


def start_services(settings, env: dict, processes: list, stop: threading.Event) -> dict:
    from chalicelib import wiring
    from chalicelib.local import worker_loop
    from chalicelib.local.bootstrap import bootstrap
    from chalicelib.local.samples import MediaServer, make_samples

    queues = bootstrap(settings)
    services = wiring.services()
    api_key = seed_user(services, previous_key())
    samples = make_samples(state_dir() / "samples")
    media = MediaServer(state_dir() / "samples", port=settings.samples_port).start()
    threading.Thread(target=worker_loop.serve, args=(services.queue,),
                     kwargs={"concurrency": settings.worker_concurrency, "stop": stop},
                     name="worker-loop", daemon=True).start()
    threading.Thread(target=maintenance_timer, args=(settings.maintenance_interval_seconds, stop),
                     name="maintenance-timer", daemon=True).start()
    processes.append(start_api(settings.api_port, {**os.environ, **env}))
    return {
        "api_url": f"http://127.0.0.1:{settings.api_port}",
        "api_key": api_key,
        "aws_endpoint_url": env["AWS_ENDPOINT_URL"],
        "bucket": settings.bucket,
        "queue_url": queues["jobs"],
        "samples": [media.url("files", p.name) for p in samples],
        "sample_page": media.url("page", samples[0].name),
    }


def print_summary(summary: dict) -> None:
    api, key, sample = summary["api_url"], summary["api_key"], summary["samples"][0]
    print(f"""
PRSNL Video is running locally (healthy after {summary['seconds_to_healthy']} s). Ctrl-C stops it.

  web library    {api}/   (sign in with the API key)
  API            {api}/api   (documented at {api}/api/docs)
  API key        {key}
  AWS (moto)     {summary['aws_endpoint_url']}   bucket {summary['bucket']}
  samples        {' '.join(summary['samples'])}
  written to     {stack_file()}

Try it:
  curl -s -X POST {api}/api/capture -H 'Authorization: Bearer {key}' \\
       -H 'Content-Type: application/json' -d '{{"url": "{sample}"}}'
  curl -s {api}/api/jobs/JOB_ID -H 'Authorization: Bearer {key}'
  curl -s {api}/api/videos/VIDEO_ID -H 'Authorization: Bearer {key}'
""", flush=True)


if __name__ == "__main__":
    sys.exit(main())
