"""API benchmark (issues 5 and 19): p50/p95 of each endpoint on the local stack with 1 client and with 20, 1,000 videos.

It starts `make run`'s stack (moto server, the API server, worker loop) on free ports in a temporary directory,
seeds 1,000 ready videos with their jobs and quota counters straight into its DynamoDB, then calls each endpoint
from one client, then from 20 threads at once. For the 20 clients it says what bounds the figure: the CPU each
of the stack's processes used per request and the throughput against one client's. Last, captures from 20
clients while 10 slow captures keep the worker busy (goal: no 5xx, p95 <= 500 ms).
Goals: p95 <= 15 ms for one-record routes with one client; p95 < 50 ms for metadata, stream and stats with 20.
Our own code per route in process (AWS answers replayed, no moto): bench/api_inprocess.py. Search: bench/search.py.
Run: ``.venv/bin/python bench/api.py [--requests N]``.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench import proc  # noqa: E402
from chalicelib.local.stack import free_port  # noqa: E402

CLIENTS = 20
VIDEOS = 1000
GOAL_MS = 50
GOAL_ENDPOINTS = ("metadata", "stream 302", "stream json", "stats")
ONE_CLIENT_GOAL_MS = 15
ONE_RECORD = ("video", "metadata", "stream 302", "stream json", "thumbnail", "job")
BUSY_JOBS = 10
LOAD_GOAL_MS = 500


def start_stack(state: Path) -> tuple[subprocess.Popen, dict]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PRSNL_", "AWS_"))}
    env.update(PRSNL_LOCAL_DIR=str(state), PRSNL_API_PORT=str(free_port()), PRSNL_AWS_PORT=str(free_port()),
               PRSNL_SAMPLES_PORT=str(free_port()))
    process = subprocess.Popen([sys.executable, "-m", "chalicelib.local.stack"], cwd=ROOT, env=env,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    deadline = time.monotonic() + 120
    while not (state / "stack.json").exists():
        if process.poll() is not None or time.monotonic() > deadline:
            raise SystemExit("the local stack did not start")
        time.sleep(0.2)
    return process, json.loads((state / "stack.json").read_text())


def seed(stack: dict, count: int) -> list[tuple[str, str]]:
    """Ready videos with jobs, stored sizes and quota counters, as the worker leaves them; returns (video, job) ids."""
    os.environ.update(AWS_ENDPOINT_URL=stack["aws_endpoint_url"], AWS_ACCESS_KEY_ID="testing",
                      AWS_SECRET_ACCESS_KEY="testing", AWS_DEFAULT_REGION="us-east-1", PRSNL_STAGE="local")
    from chalicelib import wiring
    from chalicelib.local.stack import LOCAL_USER
    from chalicelib.records import jobs, quotas, videos
    from chalicelib.records.models import Job, Video
    from chalicelib.storage import layout

    services = wiring.services()
    start, ids, groups = datetime(2026, 1, 1, tzinfo=UTC), [], {}
    with Video.batch_write() as video_batch, Job.batch_write() as job_batch:
        for n in range(count):
            created = start + timedelta(hours=7 * n)
            video_id, job_id = services.clock.new_id(), services.clock.new_id()
            sizes = {layout.video_key(video_id, created): 5_000_000 + n,
                     **{layout.thumbnail_key(video_id, created, s): 20_000 for s in layout.THUMBNAIL_SIZES}}
            platform = ("youtube", "twitter", "tiktok", "instagram", "direct")[n % 5]
            video = Video(video_id, owner_id=LOCAL_USER, created_at=created, updated_at=created, status=videos.READY,
                          source_url=f"https://example.com/v/{n}", canonical_url=f"https://example.com/v/{n}",
                          owner_source=videos.owner_source(LOCAL_USER, f"url:{n}"), platform=platform, job_id=job_id,
                          title=f"Video {n}", duration=60.0, width=1280, height=720, fps=30.0, codec="h264",
                          audio_codec="aac", average_bitrate=666_000, filesize=5_000_000 + n,
                          file_key=layout.video_key(video_id, created), bytes_stored=sum(sizes.values()),
                          object_sizes=sizes, platform_meta={"uploader": "someone", "view_count": n},
                          thumbnails={s: layout.thumbnail_key(video_id, created, s) for s in layout.THUMBNAIL_SIZES})
            video_batch.save(video)
            job = jobs.new_job(job_id, video_id=video_id, owner_id=LOCAL_USER, kind="capture", now=created)
            job.status = jobs.SUCCEEDED
            job_batch.save(job)
            usage = quotas.Usage.of(video, sizes)
            groups.setdefault((usage.platform, usage.month), []).append(usage)
            ids.append((video_id, job_id))
    for (platform, month), usages in groups.items():  # one settle per platform and month, not one per video
        objects = {key: size for usage in usages for key, size in usage.objects.items()}
        quotas.settle(LOCAL_USER, reserved=0, actual=sum(objects.values()), videos=len(usages),
                      usage=quotas.Usage(platform, month, objects))
    return ids


def measure(stack: dict, name: str, method: str, paths: list[str], body=None, *, clients: int) -> dict:
    """Every path once, by ``clients`` threads each with its own connection pool; latencies in ms, and the CPU
    seconds each of the stack's processes spent per request meanwhile."""
    headers = {"Authorization": f"Bearer {stack['api_key']}"}
    sessions = [requests.Session() for _ in range(clients)]

    def call(i: int) -> tuple[float, int | str]:
        started = time.perf_counter()
        try:
            status = sessions[i % clients].request(method, stack["api_url"] + paths[i], headers=headers,
                                                   json=body(i) if body else None, allow_redirects=False,
                                                   timeout=60).status_code
        except requests.ConnectionError:
            status = "reset"
        return 1000 * (time.perf_counter() - started), status

    cpu_before, started = stack_cpu(stack), time.perf_counter()
    with ThreadPoolExecutor(max_workers=clients) as pool:
        results = list(pool.map(call, range(len(paths))))
    wall, cpu_after = time.perf_counter() - started, stack_cpu(stack)
    latencies = sorted(ms for ms, _ in results)
    return {"endpoint": name, "n": len(latencies), "p50": statistics.median(latencies),
            "p95": latencies[int(0.95 * (len(latencies) - 1))], "statuses": sorted({str(s) for _, s in results}),
            "per_second": len(latencies) / wall,
            "cpu_ms": {k: 1000 * (cpu_after[k] - cpu_before.get(k, 0)) / len(latencies) for k in cpu_after}}


def stack_cpu(stack: dict) -> dict[str, float]:
    """CPU seconds (user + system) so far of the stack's processes, by role (the stack and its children, each of
    which has a session of its own)."""
    cpu = {}
    for pid in proc.pids():
        fields = proc.stat_fields(pid)
        if not fields or stack["pgid"] not in (int(pid), int(fields[1])):  # the stack, or one of its children
            continue
        try:
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
        except (OSError, ValueError):
            continue
        role = next((r for r in ("moto_server", "api_server", "worker_loop") if r in cmdline), "stack")
        cpu[role] = cpu.get(role, 0.0) + proc.cpu_seconds(fields)
    return cpu


def plan(ids: list[tuple[str, str]], stack: dict, n: int, phase: int) -> list[tuple]:
    pick = [ids[i * 7 % len(ids)] for i in range(n)]
    deleted = ids[len(ids) - (phase + 1) * n:len(ids) - phase * n]  # each phase deletes its own videos
    # links the worker gives up on at once (the samples server answers 503): the API's answer is what is timed
    failing = stack["samples"][0].split("/files/")[0] + "/fail"
    return [
        ("list", "GET", ["/api/videos?limit=20"] * n),
        ("list filtered", "GET", ["/api/videos?status=ready&platform=tiktok&limit=20"] * n),
        ("video", "GET", [f"/api/videos/{v}" for v, _ in pick]),
        ("metadata", "GET", [f"/api/videos/{v}/metadata" for v, _ in pick]),
        ("stream 302", "GET", [f"/api/videos/{v}/stream" for v, _ in pick]),
        ("stream json", "GET", [f"/api/videos/{v}/stream?redirect=false" for v, _ in pick]),
        ("thumbnail", "GET", [f"/api/videos/{v}/thumbnail?size=small" for v, _ in pick]),
        ("job", "GET", [f"/api/jobs/{j}" for _, j in pick]),
        ("stats", "GET", ["/api/storage/stats"] * n),
        ("admin stats", "GET", ["/api/admin/storage/stats"] * n),
        ("platforms", "GET", ["/api/platforms"] * n),
        ("health", "GET", ["/api/health"] * n),
        ("delete", "DELETE", [f"/api/videos/{v}" for v, _ in deleted]),
        ("capture", "POST", ["/api/capture"] * n, lambda i: {"url": f"{failing}/bench-{phase}-{i}.mp4"}),
    ]


def busy_worker(stack: dict, jobs: int) -> None:
    """``jobs`` captures of the samples at 40 kB/s, returning once each is downloading: the worker holds them for
    the rest of the run."""
    headers = {"Authorization": f"Bearer {stack['api_key']}"}
    started = []
    for n in range(jobs):
        sample = stack["samples"][n % len(stack["samples"])].replace("/files/", "/slow/")
        answer = requests.post(stack["api_url"] + "/api/capture", headers=headers, timeout=60,
                               json={"url": f"{sample}?bps=40000&busy={n}"})
        answer.raise_for_status()
        started.append(answer.json()["job_id"])
    deadline = time.monotonic() + 600  # queued behind the capture rows' failing links, which the worker ends first
    while not all(_downloading(stack, headers, job_id) for job_id in started):
        if time.monotonic() > deadline:
            raise SystemExit(f"the {jobs} slow captures did not all start downloading")
        time.sleep(0.5)


def _downloading(stack: dict, headers: dict, job_id: str) -> bool:
    job = requests.get(f"{stack['api_url']}/api/jobs/{job_id}", headers=headers, timeout=60).json()
    return job["status"] == "running" and job["progress"].get("stage") == "downloading"


def print_rows(one: list[dict], many: list[dict]) -> None:
    print(f"{'endpoint':<16}{'1 client: p50':>14}{'p95':>7}  {CLIENTS} clients: p50{'p95':>8}{'req/s':>7}"
          f"{'x1':>6}  CPU ms/request (api, moto)  statuses")
    for a, b in zip(one, many, strict=True):
        goal = ""
        if a["endpoint"] in ONE_RECORD:
            met = a["p95"] <= ONE_CLIENT_GOAL_MS
            goal += f"  1-client goal p95 <= {ONE_CLIENT_GOAL_MS} ms: {'met' if met else 'MISSED'}"
        if b["endpoint"] in GOAL_ENDPOINTS:
            goal += f"  {CLIENTS}-client goal p95 < {GOAL_MS} ms: {'met' if b['p95'] < GOAL_MS else 'MISSED'}"
        cpu = f"{b['cpu_ms'].get('api_server', 0):5.1f}, {b['cpu_ms'].get('moto_server', 0):5.1f}"
        print(f"{a['endpoint']:<16}{a['p50']:>14.1f}{a['p95']:>7.1f}  {b['p50']:>15.1f}{b['p95']:>8.1f}"
              f"{b['per_second']:>7.0f}{b['per_second'] / a['per_second']:>6.1f}  {cpu:<27}"
              f"{sorted(set(a['statuses']) | set(b['statuses']))}{goal}", flush=True)


def bound(many: list[dict]) -> str:
    """What the 20-client latency is made of: requests queue for the CPU the API and moto processes spend."""
    cores = os.cpu_count() or 1
    api = statistics.median(row["cpu_ms"].get("api_server", 0) for row in many)
    moto = statistics.median(row["cpu_ms"].get("moto_server", 0) for row in many)
    busiest = max(api, moto)
    return (f"{CLIENTS} clients: the API server spends a median {api:.1f} ms of CPU per request and moto {moto:.1f} ms;"
            f" each is one Python process (one core at a time under the GIL), so throughput tops out near "
            f"{1000 / busiest:.0f} req/s and {CLIENTS} clients wait about {CLIENTS} x {busiest:.1f} ms = "
            f"{CLIENTS * busiest:.0f} ms in the queue of the busier one ({cores} cores here, shared with the clients).")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=200, help="requests per endpoint")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="prsnl-bench-") as state:
        process, stack = start_stack(Path(state))
        stack["pgid"] = process.pid
        try:
            started = time.perf_counter()
            ids = seed(stack, VIDEOS)
            print(f"seeded {len(ids)} videos in {time.perf_counter() - started:.1f} s; "
                  f"1 and {CLIENTS} clients, {args.requests} requests per endpoint\n")
            rows = {}
            for phase, clients in enumerate((1, CLIENTS)):
                rows[clients] = [measure(stack, name, method, paths, *body, clients=clients)
                                 for name, method, paths, *body in plan(ids, stack, args.requests, phase)]
            print_rows(rows[1], rows[CLIENTS])
            print("\n" + bound(rows[CLIENTS]))
            busy_worker(stack, BUSY_JOBS)
            failing = stack["samples"][0].split("/files/")[0] + "/fail"
            load = measure(stack, "capture", "POST", ["/api/capture"] * args.requests,
                           lambda i: {"url": f"{failing}/load-{i}.mp4"}, clients=CLIENTS)
            server_errors = sum(1 for s in load["statuses"] if s.startswith("5") or s == "reset")
            print(f"\ncapture, {CLIENTS} clients, {BUSY_JOBS} jobs running: p50 {load['p50']:.1f} ms, "
                  f"p95 {load['p95']:.1f} ms, statuses {load['statuses']} (goal: no 5xx, p95 <= {LOAD_GOAL_MS} ms: "
                  f"{'met' if not server_errors and load['p95'] <= LOAD_GOAL_MS else 'MISSED'})")
        finally:
            os.killpg(process.pid, signal.SIGINT)
            process.wait(timeout=30)
    return 0


if __name__ == "__main__":
    sys.exit(main())
