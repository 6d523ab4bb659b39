"""`make run` as a personal install (issue 15, issue 17 item 8): what a crash can lose, how long the start takes
to bring back a library of 100 videos, and how the local API takes a burst — against `chalice local`.

It starts the stack on free ports in a temporary directory, seeds 100 ready videos (records, quota counters
and their objects, ``--mb`` each) straight into its moto, waits for the write-through to catch up, times a
save pass with everything to copy and one with nothing changed (the loss window is the interval plus one
pass), stops it with Ctrl-C and starts it again (the restore), then sends bursts of simultaneous connections
and sequential keep-alive requests to the stack's API server and to a plain `chalice local` on the same moto.
Run: ``.venv/bin/python bench/local_stack.py [--videos N] [--mb M]``.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import socket
import statistics
import struct
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.api import free_port, seed, start_stack  # noqa: E402

BURST, ROUNDS, SEQUENTIAL = 50, 5, 200


def objects_for(stack: dict, ids: list[tuple[str, str]], mb: float) -> int:
    """Each seeded video's objects, of the sizes its record claims scaled to ``mb`` for the video file."""
    from chalicelib import aws
    from chalicelib.records.models import Video

    s3, total = aws.client("s3"), 0
    for video_id, _ in ids:
        video = Video.get(video_id)
        for key in video.object_sizes.as_dict():
            body = os.urandom(int(mb * 1e6) if key == video.file_key else 20_000)
            s3.put_object(Bucket=stack["bucket"], Key=key, Body=body)
            total += len(body)
    return total


def wait_saved(stack: dict, keys: int) -> float:
    started, index = time.monotonic(), Path(stack["data_dir"]) / "s3" / stack["bucket"] / "index.json"
    while True:
        try:
            if len(json.loads(index.read_text())) >= keys:
                return time.monotonic() - started
        except (OSError, ValueError):
            pass
        time.sleep(0.05)


def timed_passes(stack: dict) -> tuple[float, float]:
    """A pass into an empty directory (everything to copy), then one with nothing changed."""
    from chalicelib.config import load_settings
    from chalicelib.local import persist
    from chalicelib.records.models import bind_tables

    settings = load_settings()
    bind_tables(settings)
    with tempfile.TemporaryDirectory() as target:
        first = persist.save(Path(target), settings)
        return first.seconds, persist.save(Path(target), settings, tables=first.tables).seconds


def one_of_a_burst(port: int, barrier: threading.Barrier, results: list) -> None:
    """True when the connection was answered without the kernel sending its SYN again (tcpi_total_retrans)."""
    barrier.wait()
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=60) as sock:
            info = sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_INFO, 104)
            sock.sendall(b"GET /api/platforms HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
            answered = sock.makefile("rb").readline().startswith(b"HTTP/1.1 200")
            results.append(answered and struct.unpack_from("I", info, 100)[0] == 0)
    except OSError:
        results.append(False)


def burst(url: str) -> int:
    """Connections of BURST at once, ROUNDS times: how many were reset, refused, or dropped and retried."""
    failed, port = 0, int(url.rsplit(":", 1)[1])
    for _ in range(ROUNDS):
        barrier, results = threading.Barrier(BURST), []
        threads = [threading.Thread(target=one_of_a_burst, args=(port, barrier, results)) for _ in range(BURST)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        failed += results.count(False)
    return failed


def sequential_ms(url: str) -> float:
    """p50 of SEQUENTIAL requests on one keep-alive connection."""
    session, times = requests.Session(), []
    for _ in range(SEQUENTIAL):
        started = time.perf_counter()
        session.get(url + "/api/platforms", timeout=30).raise_for_status()
        times.append(1000 * (time.perf_counter() - started))
    return statistics.median(times)


def chalice_local(stack: dict, env: dict) -> tuple[subprocess.Popen, str]:
    port = free_port()
    process = subprocess.Popen([sys.executable, "-c", "from chalice.cli import main; main()", "local", "--stage",
                                "local", "--port", str(port), "--no-autoreload"], cwd=ROOT, env=env,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        try:
            if requests.get(url + "/api/platforms", timeout=2).ok:
                return process, url
        except requests.ConnectionError:
            time.sleep(0.2)
    raise SystemExit("chalice local did not start")


def restart(process: subprocess.Popen, state: Path) -> tuple[subprocess.Popen, dict, float]:
    started = time.monotonic()
    os.killpg(process.pid, signal.SIGINT)
    process.wait(timeout=120)
    stopped = time.monotonic() - started
    (state / "stack.json").unlink()
    process, stack = start_stack(state)
    return process, stack, stopped


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--videos", type=int, default=100)
    parser.add_argument("--mb", type=float, default=5.0, help="size of each video file")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="prsnl-bench-") as state:
        process, stack = start_stack(Path(state))
        try:
            ids = seed(stack, args.videos)
            nbytes = objects_for(stack, ids, args.mb)
            caught_up = wait_saved(stack, len(ids) * 4)
            full, idle = timed_passes(stack)
            process, stack, stopped = restart(process, Path(state))
            env = {**os.environ, "PRSNL_ALLOW_LOOPBACK_URLS": "true"}
            before, before_url = chalice_local(stack, env)
            try:
                figures = {"chalice local": (burst(before_url), sequential_ms(before_url)),
                           "make run's API": (burst(stack["api_url"]), sequential_ms(stack["api_url"]))}
            finally:
                os.killpg(before.pid, signal.SIGKILL)
        finally:
            os.killpg(process.pid, signal.SIGINT)
            process.wait(timeout=120)
    restored = stack["restored"]
    print(f"library: {args.videos} videos, {nbytes / 1e6:.0f} MB of objects")
    print(f"write-through caught up {caught_up:.2f} s after the seeding ended")
    print(f"save pass: {full:.2f} s with everything to copy, {idle:.3f} s with nothing changed "
          f"(loss window after a crash: PRSNL_LOCAL_SAVE_SECONDS + one pass)")
    print(f"Ctrl-C stop (with its last save): {stopped:.1f} s")
    print(f"restore at start: {restored['items']} records, {restored['objects']} objects "
          f"({restored['bytes'] / 1e6:.0f} MB) in {restored['seconds']} s; "
          f"healthy after {stack['seconds_to_healthy']} s")
    for name, (failed, p50) in figures.items():
        print(f"{name:<15} burst {BURST} x {ROUNDS}: {failed} dropped or reset; keep-alive p50 {p50:.1f} ms")
    return 0


if __name__ == "__main__":
    sys.exit(main())
