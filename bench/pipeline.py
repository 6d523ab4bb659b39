"""Pipeline benchmark (issue 4): every figure and ratio below is measured in the same run, on this machine.

  download    our yt-dlp download vs ``curl`` of a 188 MB, 60 s 1080p H.264 file from loopback (goal >= 0.9x)
  transcode   our probe + plan + ffmpeg run (720p) vs the bare equivalent ffmpeg command (goal <= 1.05x)
  remux       the fast path on the same file: probe, remux with +faststart, verify (goal <= 3 s)
  compress    a worker process capturing a 500 MB input end to end on the compress path, with the threshold
              lowered to 40 MB so that the size target binds: time, output/input and output/target sizes,
              peak RSS of the worker (goal <= 300 MB) and of the worker with its ffmpeg children, sampled
  parallel    10 captures at once through the local worker loop vs one (wall time)

The captures run the real worker (worker_loop -> worker.handler -> pipeline) in a child process against a
moto server, so moto's memory is not counted in the worker's RSS. Run: ``.venv/bin/python bench/pipeline.py``.
"""

from __future__ import annotations

import json
import os
import resource
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

MB = 1024 * 1024


def timed(call) -> tuple[float, object]:
    start = time.perf_counter()
    result = call()
    return time.perf_counter() - start, result


def bench_download(url: str, size: int, work: Path) -> list[tuple]:
    from chalicelib.config import get_settings
    from chalicelib.media.download import YtDlpDownloader
    from chalicelib.platforms import get_platform

    curl_s, _ = timed(lambda: subprocess.run(["curl", "-sf", "-o", str(work / "curl.mp4"), url], check=True))
    platform = get_platform("direct")
    options = platform.ydl_options(get_settings())
    dest = work / "download"
    dest.mkdir()

    downloader = YtDlpDownloader()
    downloader.probe(url, options=options, allow_loopback=True, classify=platform.classify_error)  # imports
    probe_s, info = timed(lambda: downloader.probe(url, options=options, allow_loopback=True,
                                                   classify=platform.classify_error))
    ours_s, _ = timed(lambda: downloader.download(info, dest, options=options, max_bytes=600 * MB,
                                                  allow_loopback=True, on_progress=lambda *a, **k: None,
                                                  classify=platform.classify_error))
    curl_rate, ours_rate = size / curl_s / MB, size / ours_s / MB
    return [("download: curl", f"{curl_s:.2f} s", f"{curl_rate:.0f} MB/s", ""),
            ("download: ours (yt-dlp, after a probe)", f"{ours_s:.2f} s", f"{ours_rate:.0f} MB/s",
             f"{ours_rate / curl_rate:.2f}x curl throughput (goal >= 0.9); probe {probe_s:.2f} s")]


def bench_processing(src: Path, work: Path) -> list[tuple]:
    from chalicelib.config import get_settings
    from chalicelib.media import probe, transcode
    from chalicelib.media.tools import ffmpeg_exe

    limits = transcode.Limits.from_settings(get_settings())

    def ours(target: int | None, dst: Path):
        plan = transcode.plan(probe.probe(src), limits, target_height=target)
        return transcode.run(plan, src, dst, on_progress=lambda f: None), plan

    ours_s, (_, plan) = timed(lambda: ours(720, work / "ours-720.mp4"))
    bare = [ffmpeg_exe(), "-hide_banner", "-loglevel", "error", "-nostdin", "-y", "-i", str(src),
            "-map", "0:v:0", "-map", "0:a:0", "-vf", "scale=-2:720,format=yuv420p",
            "-c:v", "libx264", "-preset", transcode.PRESET, "-crf", str(plan.crf), "-maxrate", str(plan.maxrate),
            "-bufsize", str(plan.bufsize), "-c:a", "copy", "-movflags", "+faststart", "-f", "mp4",
            str(work / "bare-720.mp4")]
    bare_s, _ = timed(lambda: subprocess.run(bare, check=True))
    remux_s, (_, remux_plan) = timed(lambda: ours(None, work / "remux.mp4"))
    return [("transcode to 720p: bare ffmpeg", f"{bare_s:.2f} s", "", ""),
            ("transcode to 720p: ours", f"{ours_s:.2f} s", "", f"{ours_s / bare_s:.3f}x bare (goal <= 1.05)"),
            (f"remux fast path ({remux_plan.kind}, {remux_plan.reason})", f"{remux_s:.2f} s", "",
             "goal <= 3 s")]


def capture_child(url: str, count: int) -> None:
    """In a child process: queue ``count`` captures of ``url`` and serve them with the local worker loop."""
    from chalicelib import capture, wiring
    from chalicelib.config import get_settings
    from chalicelib.local import worker_loop
    from chalicelib.local.bootstrap import bootstrap
    from chalicelib.local.stack import LOCAL_USER, seed_user
    from chalicelib.records import jobs, videos

    settings = get_settings()
    bootstrap(settings)
    services = wiring.services()
    seed_user(services, None)
    queued = [capture.capture(f"{url}?n={n}", owner_id=LOCAL_USER, services=services) for n in range(count)]
    stop = threading.Event()
    peaks = {"children": 0, "tree": 0}
    threading.Thread(target=sample_rss, args=(peaks, stop), daemon=True).start()
    start = time.perf_counter()
    loop = threading.Thread(target=worker_loop.serve, args=(services.queue,),
                            kwargs={"concurrency": settings.worker_concurrency, "stop": stop, "poll_seconds": 1})
    loop.start()
    while any(jobs.get(q.job.job_id).status not in jobs.FINISHED for q in queued):
        time.sleep(0.2)
    wall = time.perf_counter() - start
    stop.set()
    loop.join()
    print(json.dumps({
        "wall": wall, "statuses": sorted(jobs.get(q.job.job_id).status for q in queued),
        "stored": [videos.get(q.video.video_id).filesize for q in queued],
        "rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "tools_rss_mb": peaks["children"] / MB, "tree_rss_mb": peaks["tree"] / MB,
    }))


def sample_rss(peaks: dict, stop: threading.Event) -> None:
    """The highest RSS of this process's children (ffmpeg) together, and of it with them, sampled every 0.1 s
    from /proc (getrusage's figure for children counts the worker's own pages they were forked with)."""
    me, page = os.getpid(), os.sysconf("SC_PAGE_SIZE")
    while not stop.wait(0.1):
        rss = {"self": 0, "children": 0}
        for stat in Path("/proc").glob("[0-9]*/stat"):
            try:
                fields = stat.read_text().rsplit(")", 1)[1].split()  # state, ppid, ... rss (in pages) at 21
            except OSError:  # the process ended meanwhile
                continue
            if stat.parent.name == str(me) or int(fields[1]) == me:
                rss["self" if stat.parent.name == str(me) else "children"] += int(fields[21]) * page
        peaks["children"] = max(peaks["children"], rss["children"])
        peaks["tree"] = max(peaks["tree"], rss["self"] + rss["children"])


COMPRESS_TARGET = 40 * MB


def run_captures(url: str, count: int, env: dict) -> dict:
    import requests

    requests.post(f"{env['AWS_ENDPOINT_URL']}/moto-api/reset", timeout=10)
    out = subprocess.run([sys.executable, __file__, "--capture", url, str(count)], env=env, check=True,
                         stdout=subprocess.PIPE, text=True).stdout  # its stderr shows why, should it fail
    return json.loads(out.strip().splitlines()[-1])


def bench_captures(server, env: dict, big_size: int) -> list[tuple]:
    big = run_captures(server.url("files", "src-500.mp4"), 1,
                       {**env, "PRSNL_COMPRESS_ABOVE_BYTES": str(COMPRESS_TARGET)})
    print("compress capture:", json.dumps(big), flush=True)
    one = run_captures(server.url("files", "clip-20.mp4"), 1, env)
    ten = run_captures(server.url("files", "clip-20.mp4"), 10, env)
    assert big["statuses"] == ["succeeded"] and ten["statuses"] == ["succeeded"] * 10, (big, ten)
    stored = big["stored"][0]
    return [(f"worker capturing a {big_size / MB:.0f} MB input (compress to {COMPRESS_TARGET // MB} MB)",
             f"{big['wall']:.1f} s", f"{stored / MB:.1f} MB stored",
             f"{stored / big_size:.3f}x input, {stored / COMPRESS_TARGET:.3f}x target (goal <= 1)"),
            ("  its peak RSS", "", f"{big['rss_mb']:.0f} MB worker",
             f"ffmpeg {big['tools_rss_mb']:.0f} MB, worker + ffmpeg {big['tree_rss_mb']:.0f} MB (sampled);"
             " goal worker <= 300 MB"),
            ("1 capture (20 MB 1080p, remux)", f"{one['wall']:.2f} s", "", ""),
            (f"10 captures at once ({env['PRSNL_WORKER_CONCURRENCY']} workers)", f"{ten['wall']:.2f} s", "",
             f"{ten['wall'] / one['wall']:.1f}x one capture's wall time")]


def main() -> None:
    from chalicelib.local.samples import MediaServer
    from chalicelib.local.stack import local_environment, start_moto
    from tests import media

    work = Path(tempfile.mkdtemp(prefix="prsnl-bench-"))
    moto = None
    try:
        files = work / "files"
        files.mkdir()
        print("making media (188 MB, 500 MB and 20 MB 1080p H.264)...", flush=True)
        src = media.make_large(files / "src-188.mp4", 188 * MB, seconds=60)
        big = media.make_large(files / "src-500.mp4", 500 * 1000 * 1000, seconds=60)
        media.make_large(files / "clip-20.mp4", 20 * MB, seconds=10)
        server = MediaServer(files).start()
        rows = bench_download(server.url("files", "src-188.mp4"), src.stat().st_size, work)
        rows += bench_processing(src, work)
        port = free_port()  # a fixed one would let another run's moto server answer (and reset) for ours
        moto = start_moto(port)
        env = {**os.environ, **local_environment(port), "PRSNL_ALLOW_LOOPBACK_URLS": "true",
               "PRSNL_WORKER_CONCURRENCY": os.environ.get("PRSNL_WORKER_CONCURRENCY", "4"),
               "PRSNL_WORK_DIR": str(work), "PYTHONPATH": str(ROOT)}
        rows += bench_captures(server, env, big.stat().st_size)
        server.stop()
        print_table(rows)
    finally:
        if moto is not None:
            moto.terminate()
            moto.wait()
        shutil.rmtree(work, ignore_errors=True)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def print_table(rows: list[tuple]) -> None:
    header = ("measure", "time", "figure", "ratio / goal")
    widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(4)]
    for row in [header, tuple("-" * w for w in widths), *rows]:
        print("  ".join(str(cell).ljust(width) for cell, width in zip(row, widths, strict=True)))


if __name__ == "__main__":
    if sys.argv[1:2] == ["--capture"]:
        capture_child(sys.argv[2], int(sys.argv[3]))
    else:
        main()
