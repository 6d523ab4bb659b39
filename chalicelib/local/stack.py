"""``make run``: the whole system on loopback — moto server, bootstrap, what the last run saved, seeded user,
the API, the worker process and the sample-media server — in the foreground until Ctrl-C.

A personal install: the tables and buckets are written through to ``.local/data/<stage>/`` (persist.py) and
loaded at the next start; jobs the stop interrupted run again. Children log to ``.local/logs/``; they die
with the stack (processes.py). Dev only: app.py and the worker never import this package.
"""

from __future__ import annotations

import fcntl
import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import threading
import time
from datetime import UTC, datetime
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parents[2]
LOCAL_USER = "local"
WORKER = "the worker"
MOTO = "the moto server"


def state_dir() -> Path:
    """Where the stack keeps its files (``.local``; PRSNL_LOCAL_DIR moves it, e.g. for tests)."""
    return Path(os.environ.get("PRSNL_LOCAL_DIR") or ROOT / ".local")


def stack_file() -> Path:
    return state_dir() / "stack.json"


def data_dir(stage: str) -> Path:
    return state_dir() / "data" / stage


def port_free(port: int) -> bool:
    with socket.socket() as sock:
        return sock.connect_ex(("127.0.0.1", port)) != 0


def free_port() -> int:
    """A loopback port nothing listens on now (for the tests' and benches' servers)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def local_environment(aws_port: int, stage: str = "local") -> dict:
    """The variables every local process shares: moto's endpoint, dummy credentials, the watch-link key."""
    return {
        "AWS_ENDPOINT_URL": f"http://127.0.0.1:{aws_port}",
        "AWS_ACCESS_KEY_ID": os.environ.get("AWS_ACCESS_KEY_ID", "testing"),
        "AWS_SECRET_ACCESS_KEY": os.environ.get("AWS_SECRET_ACCESS_KEY", "testing"),
        "AWS_DEFAULT_REGION": os.environ.get("AWS_DEFAULT_REGION", "us-east-1"),
        "PRSNL_STAGE": stage,
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


def use_running_stack() -> bool:
    """With no AWS endpoint or credentials in the environment, point this process at the running stack's moto
    (from stack.json); False when there is none to point at."""
    named = ("AWS_ENDPOINT_URL", "AWS_ACCESS_KEY_ID", "AWS_PROFILE")
    if any(os.environ.get(name) for name in named):
        return True
    try:
        summary = json.loads(stack_file().read_text())
        endpoint, stage = summary["aws_endpoint_url"], summary.get("stage", "local")
    except (OSError, ValueError, KeyError):
        return False
    if os.environ.get("PRSNL_STAGE", stage) != stage:
        return False
    os.environ.update(local_environment(int(endpoint.rsplit(":", 1)[1]), stage))
    return True


def seed_user(services, api_key: str | None) -> str:
    """The local user, with the key of the previous run when there is one."""
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


def hold_lock(path: Path):
    """An exclusive lock held for the life of this process (released by the kernel whatever the death);
    None when another process holds it (its pid is in the file)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    handle = path.open("a+")
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        handle.seek(0)
        print(f"`make run` is already running for {state_dir()} (pid {handle.read().strip()}): "
              "stop it with Ctrl-C in its terminal first")
        return None
    handle.truncate(0)
    handle.write(str(os.getpid()))
    handle.flush()
    return handle


def taken_port(settings) -> str | None:
    for name, port in (("PRSNL_AWS_PORT", settings.aws_port), ("PRSNL_API_PORT", settings.api_port),
                       ("PRSNL_SAMPLES_PORT", settings.samples_port)):
        if not port_free(port):
            return (f"port {port} is taken: is `make run` already running? (stop it, or set {name} "
                    "to another port)")
    return None


def start_moto(port: int, *, env: dict | None = None, timeout: float = 300, children: dict | None = None,
               log: Path | None = None, say=print):
    """A moto server child on ``port`` (it dies with this process), once it answers; for the stack, the benches
    and the fault tests. ``children`` gets it before the wait, so a caller can stop it when the wait fails;
    its output goes to ``log`` (default ``.local/logs/moto_server.log``)."""
    from chalicelib.local import processes

    process = processes.spawn("chalicelib.local.moto_server", str(port), env=env or dict(os.environ),
                              log=log or state_dir() / "logs" / "moto_server.log", cwd=ROOT)
    if children is not None:
        children[MOTO] = process
    processes.wait_until(lambda: requests.get(f"http://127.0.0.1:{port}/moto-api/", timeout=2).ok, what=MOTO,
                         process=process, timeout=timeout, say=say)
    return process


class Stack:
    """The children and threads of one ``make run``, started in order and stopped in reverse."""

    def __init__(self, settings, say=print):
        self.settings = settings
        self.say = say
        self.env = {**os.environ, **local_environment(settings.aws_port, settings.stage),
                    "PRSNL_ALLOW_LOOPBACK_URLS": "true" if settings.allow_loopback_urls else "false"}
        self.children: dict[str, subprocess.Popen] = {}
        self.stop_event = threading.Event()
        self.logs = state_dir() / "logs"
        self.loaded = False  # the saved library restored into moto (a stop before that must not save over it)

    def start(self) -> dict:
        from chalicelib import wiring
        from chalicelib.local import console, persist, processes
        from chalicelib.local.bootstrap import bootstrap
        from chalicelib.local.moto_server import TablesCopy
        from chalicelib.local.samples import MediaServer, make_samples
        from chalicelib.ops import maintenance
        from chalicelib.records.models import Job

        started = time.monotonic()
        os.environ.update(self.env)
        data = data_dir(self.settings.stage)
        self.children[MOTO] = start_moto(self.settings.aws_port, env=self.env,
                                         timeout=self.settings.start_timeout_seconds, children=self.children,
                                         log=self._log("moto_server"), say=self.say)
        queues = bootstrap(self.settings)
        try:
            restored = persist.load(data, self.settings) if persist.saved_anything(data) else None
        except persist.Unreadable as error:
            raise processes.StartError(f"the saved library is left as it was: {error}") from None
        self.loaded = True  # from here on, what moto holds is the library: the stop saves it
        services = wiring.services()
        resent = maintenance.resend_queued(services=services).lost_jobs_resent.fixed
        api_key = seed_user(services, previous_key())
        saved = persist.save(data, self.settings)
        self._thread(persist.keep_saving, data, self.settings, interval=self.settings.local_save_seconds,
                     stop=self.stop_event, tables=saved.tables)
        self._thread(maintenance_timer, self.settings.maintenance_interval_seconds, self.stop_event)
        events = console.JobEvents(since=_now(), jobs_table=TablesCopy(self.settings.region, [Job.Meta.table_name]))
        self._thread(console.report_job_events, events, self.say, interval=1.0, stop=self.stop_event)
        samples = make_samples(state_dir() / "samples")
        media = MediaServer(state_dir() / "samples", port=self.settings.samples_port).start()
        self._child(WORKER, "chalicelib.local.worker_loop")
        self._child("the API", "chalicelib.local.api_server", "127.0.0.1", str(self.settings.api_port),
                    ready=lambda: requests.get(f"http://127.0.0.1:{self.settings.api_port}/api/health",
                                               timeout=5).ok)
        return {
            "pid": os.getpid(),
            "stage": self.settings.stage,
            "api_url": f"http://127.0.0.1:{self.settings.api_port}",
            "api_key": api_key,
            "aws_endpoint_url": self.env["AWS_ENDPOINT_URL"],
            "bucket": self.settings.bucket,
            "queue_url": queues["jobs"],
            "samples": [media.url("files", p.name) for p in samples],
            "sample_page": media.url("page", samples[0].name),
            "data_dir": str(data),
            "logs": str(self.logs),
            "restored": None if restored is None else {"items": restored.items, "objects": restored.objects_written,
                                                       "bytes": restored.bytes_written,
                                                       "seconds": round(restored.seconds, 2)},
            "jobs_resent": resent,
            "seconds_to_healthy": round(time.monotonic() - started, 1),
        }

    def _child(self, what: str, module: str, *args: str, ready=None) -> None:
        from chalicelib.local import processes

        process = processes.spawn(module, *args, env=self.env, log=self._log(module.rsplit(".", 1)[1]), cwd=ROOT)
        self.children[what] = process
        if ready is not None:
            processes.wait_until(ready, what=what, process=process, timeout=self.settings.start_timeout_seconds,
                                 say=self.say)

    def _log(self, name: str) -> Path | None:
        """A child's log file; none (its output on the console) with PRSNL_LOG_FORMAT=json."""
        return None if self.settings.log_format == "json" else self.logs / f"{name}.log"

    def _thread(self, target, *args, **kwargs) -> None:
        threading.Thread(target=target, args=args, kwargs=kwargs, daemon=True, name=target.__name__).start()

    def watch(self) -> int:
        """Until Ctrl-C / SIGTERM: 0. A stopped worker is reported (``make worker`` starts it again); any other
        child that stops stops the stack: 1."""
        while not self.stop_event.wait(0.5):
            for what, process in list(self.children.items()):
                if process.poll() is None:
                    continue
                if what == WORKER:
                    self.say(f"the worker stopped (status {process.returncode}); `make worker` starts it again")
                    del self.children[what]
                    continue
                self.say(f"{what} stopped (status {process.returncode}); stopping. Its log: {self.logs}")
                return 1
        return 0

    def stop(self) -> None:
        """API and worker first, then a last save while moto still runs (once it holds the restored library: a start
        that failed or was stopped while restoring would save a part of it over the whole), then moto."""
        from chalicelib.local import persist, processes

        self.stop_event.set()
        moto = self.children.pop(MOTO, None)
        processes.stop(list(self.children.values()))
        stop_standalone_worker()
        if moto is None:
            return
        if moto.poll() is None and self.loaded:
            try:
                persist.save(data_dir(self.settings.stage), self.settings)
            except Exception as error:  # moto gone meanwhile: the last pass stands
                self.say(f"the last save failed ({error}); the previous one stands")
        processes.stop([moto])


def stop_standalone_worker() -> None:
    """A worker started again with ``make worker`` is no child of the stack: its lock file names it."""
    from chalicelib.local import processes

    try:
        pid = int((state_dir() / "worker.lock").read_text().strip())
    except (OSError, ValueError):
        return
    if processes.alive(pid):
        os.kill(pid, signal.SIGTERM)


def main() -> int:
    from chalicelib.config import load_settings
    from chalicelib.local import processes

    processes.die_with_parent(parent=os.getppid())  # `make` killed: stop as after Ctrl-C
    os.environ.setdefault("PRSNL_STAGE", "local")  # the stage's defaults (loopback links allowed) follow from it
    settings = load_settings()
    lock = hold_lock(state_dir() / "stack.lock")
    if lock is None:
        return 1
    if refusal := taken_port(settings):
        print(refusal)
        return 1
    say = _console(settings)
    stack = Stack(settings, say)
    signal.signal(signal.SIGTERM, lambda *_: stack.stop_event.set())
    status = 0
    with processes.own_terminal():
        try:
            summary = stack.start()
            stack_file().write_text(json.dumps(summary, indent=2) + "\n")
            say(summary_text(summary, settings))
            status = stack.watch()
        except processes.StartError as error:
            say(f"`make run` could not start: {error}. Logs: {stack.logs}")
            status = 1
        except KeyboardInterrupt:
            pass
        finally:
            signal.signal(signal.SIGINT, signal.SIG_IGN)  # a second Ctrl-C must not cut the last save short
            stack.stop()
            say("\nstopped")
    return status


def _console(settings):
    """Where the banner and the job lines go; the stack's own logs go to .local/logs/stack.log unless
    PRSNL_LOG_FORMAT=json."""
    from chalicelib.local import console

    if settings.log_format == "json":
        return console.printer(sys.stdout)
    return console.printer(console.logs_to_file(state_dir() / "logs" / "stack.log"))


def _now() -> datetime:
    return datetime.now(UTC)


def maintenance_timer(interval: float, stop: threading.Event) -> None:
    """EventBridge's part on the local stack (no schedules run locally): maintenance and the day's storage
    snapshot every ``interval`` seconds (the snapshot rewrites the day's figures)."""
    from chalicelib import wiring
    from chalicelib.observability import logger
    from chalicelib.ops import maintenance, trends

    while not stop.wait(interval):
        try:
            maintenance.run(services=wiring.services(), apply=True)
            trends.snapshot(services=wiring.services())
        except Exception:
            logger.exception("local maintenance failed; trying again next interval")


def summary_text(summary: dict, settings) -> str:
    api, key, sample = summary["api_url"], summary["api_key"], summary["samples"][0]
    restored = summary["restored"]
    kept = (f"restored {restored['items']} records and {restored['objects']} objects "
            f"({restored['bytes'] / 1e6:.1f} MB) in {restored['seconds']} s" if restored else "nothing saved yet")
    loopback = "" if settings.allow_loopback_urls else (
        "\n  note           PRSNL_ALLOW_LOOPBACK_URLS is off: links to 127.0.0.1 (the samples) are refused\n")
    return f"""
PRSNL Video is running locally (stage {summary['stage']}, healthy after {summary['seconds_to_healthy']} s).
Ctrl-C stops it; what it saved comes back at the next `make run` (`make reset` empties it).

  web library    {api}/   (sign in with the API key)
  API            {api}/api   (documented at {api}/api/docs)
  API key        {key}
  AWS (moto)     {summary['aws_endpoint_url']}   bucket {summary['bucket']}
  saved in       {summary['data_dir']}   ({kept}; jobs sent again: {summary['jobs_resent']})
  logs           {summary['logs']}
  samples        {' '.join(summary['samples'])}
  written to     {stack_file()}
{loopback}
Try it:
  curl -s -X POST {api}/api/capture -H 'Authorization: Bearer {key}' \\
       -H 'Content-Type: application/json' -d '{{"url": "{sample}"}}'
  .venv/bin/prsnl-video capture {sample}
  .venv/bin/prsnl-video list

Job events show here, one line each; the processes' logs are in {summary['logs']} (PRSNL_LOG_FORMAT=json: here).
"""


if __name__ == "__main__":
    sys.exit(main())
