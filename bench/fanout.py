"""Fan-out benchmark (issue 19): one ffmpeg vs the same transcode in segments on this machine, and a model of Lambda.

Measured here, in the same run, on the noisy 60 s 1080p H.264 file bench/pipeline.py uses (188 MB, a keyframe
every 2 s), through the code the worker runs (``transcode.run``, ``segments.split``, ``transcode.encode_video``,
``segments.join``/``check_joined``, ``S3Storage`` on in-process moto):

  single      one ffmpeg with every core (the path below the fan-out threshold)
  segments    split + sound + N parts encoded by N local workers (threads, one single-threaded ffmpeg each) + join
              + checks, for N = 1, 2, 4: on 2 cores expect ~1x the single ffmpeg (N = 2, 4), not N x
  per part    each part's single-thread time (N = 1: alone; N = 2, 4: beside the others)
  transfer    the parts and encoded parts through S3Storage on moto (loopback: not S3's speed)

The model then puts those measured rates together with an assumed S3 rate and per-job latency (arguments, printed)
into the wall time and compute cost of a 10-minute and a 2-hour 1080p capture on 1, 4, 16 and 64 workers of
1.7 vCPU (a 3008 MB Lambda), and checks every duration the limits admit against Lambda's 15 minutes.
Run: ``.venv/bin/python bench/fanout.py`` (about 3 minutes).
"""

from __future__ import annotations

import argparse
import math
import os
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

MB = 1024 * 1024
LAMBDA_GB = 3008 / 1024
LAMBDA_VCPU = 1.7
LAMBDA_LIMIT_SECONDS = 900
GB_SECOND_USD = 0.0000166667  # x86 Lambda, us-east-1, first 6 billion GB-s a month
REQUEST_USD = 0.20 / 1_000_000


def timed(call) -> tuple[float, object]:
    start = time.perf_counter()
    result = call()
    return time.perf_counter() - start, result


@dataclass
class Measured:
    seconds: float  # of source
    single_s: float  # one ffmpeg, every core
    thread_rate: float  # source seconds encoded per second by one single-threaded ffmpeg alone
    split_rate: float  # source seconds split per second (stream copy)
    audio_rate: float  # source seconds of sound made per second (AAC)
    join_rate: float  # source seconds joined per second (concat + mux)
    check_per_cut_s: float  # the decode check at one cut
    runs: dict  # N -> (wall of the whole segmented transcode, encode phase wall, part times)


def measure(src: Path, work: Path, height: int) -> Measured:
    from chalicelib.media import probe, transcode

    info = probe.probe(src)
    plan = transcode.plan(info, transcode.Limits(), target_height=height)
    if plan.video == "copy":  # H.264 at its own height: encoded all the same, as a VP9 or AV1 source would be
        plan = replace(plan, video="h264", height=height, crf=transcode.CRF, maxrate=transcode.DEFAULT_MAX_BITRATE,
                       reason="bench")
    single_s, _ = timed(lambda: transcode.run(plan, src, work / "single.mp4"))
    runs, alone = {}, None
    for workers in (1, 2, 4):
        runs[workers], times, split = segmented(plan, src, work / f"n{workers}", workers)
        alone = alone or sum(times)
    split_s, audio_s, join_s, check_s, cuts = split
    return Measured(info.duration, single_s, info.duration / alone, info.duration / split_s,
                    info.duration / audio_s, info.duration / join_s, check_s / max(1, cuts), runs)


def segmented(plan, src: Path, work: Path, workers: int) -> tuple[tuple, list[float], tuple]:
    """The worker's fan-out path with ``workers`` local workers, one part each (cut at the keyframe after each
    ``duration / workers``)."""
    from chalicelib.media import segments, transcode

    work.mkdir()
    start = time.perf_counter()
    length = max(2, int(plan.source.duration / workers))
    split_s, parts = timed(lambda: segments.split(plan, src, work, seconds=length))
    audio_s, _ = timed(lambda: transcode.encode_audio(plan, src, work / "audio.m4a"))
    single_thread = replace(plan.encoding, threads=1)

    def encode(part):
        return timed(lambda: transcode.encode_video(single_thread, work / part.name, work / part.encoded_name,
                                                    duration=part.duration))[0]

    encode_start = time.perf_counter()
    with ThreadPoolExecutor(max_workers=workers) as pool:
        times = list(pool.map(encode, parts))
    encode_wall = time.perf_counter() - encode_start
    out = work / "joined.mp4"
    join_s, _ = timed(lambda: segments.join([(part, work / part.encoded_name) for part in parts], work / "audio.m4a",
                                            out))
    sound = segments.extents(work / "audio.m4a")["audio"]
    check_s, _ = timed(lambda: segments.check_joined(out, parts=parts, audio=sound, fps=plan.source.video.fps))
    wall = time.perf_counter() - start
    return (wall, encode_wall, times, len(parts)), times, (split_s, audio_s, join_s, check_s, len(parts) - 1)


def transfer(work: Path) -> tuple[float, float, int]:
    """Upload and download of the 4-worker run's parts and encoded parts through S3Storage on in-process moto."""
    from moto import mock_aws

    from chalicelib.config import get_settings
    from chalicelib.local.bootstrap import bootstrap
    from chalicelib.storage.s3 import S3Storage

    files = sorted((work / "n4").glob("part*.mkv")) + sorted((work / "n4").glob("encoded*.mp4"))
    size = sum(path.stat().st_size for path in files)
    with mock_aws():
        settings = get_settings()
        bootstrap(settings)
        storage = S3Storage(settings.bucket)
        up_s, _ = timed(lambda: [storage.put_file(path, f"temp/processing/bench/{path.name}") for path in files])
        down_s, _ = timed(lambda: [storage.get_file(f"temp/processing/bench/{path.name}", work / f"back-{path.name}")
                                   for path in files])
    return up_s, down_s, size


@dataclass(frozen=True)
class Model:
    worker_rate: float  # source seconds a 1.7 vCPU worker encodes per second (one ffmpeg, every vCPU)
    m: Measured
    s3_mbs: float
    latency_s: float
    source_mbps: float
    crf_mbps: float
    scaling: float  # the thread scaling measured on 2 cores

    @property
    def segment_s(self) -> int:
        from chalicelib.config import get_settings

        return get_settings().segment_seconds

    def sizes(self, seconds: float) -> tuple[float, float]:
        """Bytes of the source (at most the size limit) and of the output (the real plan's bitrate cap)."""
        from chalicelib.config import get_settings
        from chalicelib.media import transcode
        from chalicelib.media.probe import AudioInfo, MediaInfo, VideoInfo

        settings = get_settings()
        source = min(settings.max_video_bytes, seconds * self.source_mbps * 1e6 / 8)
        info = MediaInfo("matroska,webm", seconds, int(source), None,
                         VideoInfo(0, "vp9", None, "yuv420p", 1920, 1080, 30.0, None),
                         AudioInfo(1, "opus", 48000, 2, None))
        plan = transcode.plan(info, transcode.Limits.from_settings(settings))
        video_bps = min(plan.maxrate, self.crf_mbps * 1e6)
        return source, seconds * (video_bps + transcode.AUDIO_BITRATE) / 8

    def transfer_s(self, nbytes: float) -> float:
        return nbytes / (self.s3_mbs * MB)

    def single(self, seconds: float) -> dict:
        source, output = self.sizes(seconds)
        busy = self.transfer_s(source) + seconds / self.worker_rate + self.transfer_s(output) + self.latency_s
        return {"wall": busy, "busy": busy, "longest": busy, "jobs": 1, "segments": 0}

    def fanned(self, seconds: float, workers: int) -> dict:
        source, output = self.sizes(seconds)
        count = math.ceil(seconds / self.segment_s)
        parent = (self.latency_s + self.transfer_s(source) + seconds / self.m.split_rate
                  + seconds / self.m.audio_rate + self.transfer_s(source))
        part = (self.latency_s + self.transfer_s(source / count) + self.segment_s / self.worker_rate
                + self.transfer_s(output / count))
        join = (self.transfer_s(output) + seconds / self.m.join_rate + (count - 1) * self.m.check_per_cut_s
                + self.transfer_s(output))
        waves = math.ceil(count / workers)
        return {"wall": parent + waves * part + join, "busy": parent + count * part + join,
                "longest": max(parent, part + join), "jobs": count + 1, "segments": count, "disk": 2 * output}


def cost(busy_s: float, jobs: int) -> float:
    return busy_s * LAMBDA_GB * GB_SECOND_USD + jobs * REQUEST_USD


def print_table(rows: list[tuple]) -> None:
    widths = [max(len(str(row[i])) for row in rows) for i in range(len(rows[0]))]
    for row in rows:
        print("  ".join(str(cell).ljust(width) for cell, width in zip(row, widths, strict=True)))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--height", type=int, default=720, help="the output height measured (the brief's 1080p->720p)")
    parser.add_argument("--s3-mbs", type=float, default=80.0, help="assumed S3 rate of one worker, MB/s")
    parser.add_argument("--latency", type=float, default=1.0, help="assumed seconds from send to a segment's start")
    parser.add_argument("--source-mbps", type=float, default=4.0, help="assumed bitrate of a 1080p VP9 source")
    parser.add_argument("--crf-mbps", type=float, default=4.0, help="assumed CRF 23 1080p output bitrate (capped)")
    parser.add_argument("--idle-single", type=float, default=12.72,
                        help="seconds of the single ffmpeg on this machine when idle (issue 19: 12.72 s): a second "
                             "model scales every measured time by it, for a run slowed by other work")
    args = parser.parse_args()
    from tests import media as test_media

    with tempfile.TemporaryDirectory(prefix="prsnl-bench-fanout-") as tmp:
        work = Path(tmp)
        src = work / "src.mp4"
        print("making a 60 s noisy 1080p H.264 source (188 MB)...", flush=True)
        test_media.make_large(src, 188 * MB, seconds=60)
        print(f"measuring (output {args.height}p, 2 cores, load average {os.getloadavg()[0]:.1f})...", flush=True)
        m = measure(src, work, args.height)
        up_s, down_s, size = transfer(work)
        print(f"load average after: {os.getloadavg()[0]:.1f} (other work on this machine slows every figure)")
    print_measured(m, args.height, up_s, down_s, size)
    print_model(model_of(m, args), "as measured in this run")
    factor = m.single_s / args.idle_single
    if factor > 1.2:
        idle = replace(m, single_s=args.idle_single, thread_rate=m.thread_rate * factor,
                       split_rate=m.split_rate * factor, audio_rate=m.audio_rate * factor,
                       join_rate=m.join_rate * factor, check_per_cut_s=m.check_per_cut_s / factor)
        print_model(model_of(idle, args), f"every time of this run divided by {factor:.1f}: its single ffmpeg vs "
                                          f"{args.idle_single} s on this machine idle")


def model_of(m: Measured, args) -> Model:
    """One 1.7 vCPU worker: the single-thread rate times the vCPUs, at the thread scaling measured on 2 cores."""
    scaling = (m.seconds / m.single_s) / (2 * m.thread_rate)
    return Model(m.thread_rate * LAMBDA_VCPU * scaling, m, args.s3_mbs, args.latency, args.source_mbps,
                 args.crf_mbps, scaling)


def print_measured(m: Measured, height: int, up_s: float, down_s: float, size: int) -> None:
    rows = [("measured on this machine", "wall", "", "notes"),
            (f"single ffmpeg, 2 threads (1080p -> {height}p)", f"{m.single_s:.2f} s", "",
             f"{m.seconds / m.single_s:.2f}x realtime (baseline)")]
    for workers, (wall, encode_wall, times, count) in m.runs.items():
        rows.append((f"{count} segments on {workers} worker(s), 1 thread each", f"{wall:.2f} s",
                     f"{m.single_s / wall:.2f}x single", f"encode phase {encode_wall:.2f} s; per part "
                     + ", ".join(f"{t:.2f}" for t in times) + " s"))
    rows += [("single thread, alone", f"{m.thread_rate:.2f}x realtime", "", ""),
             ("split (stream copy)", f"{m.seconds / m.split_rate:.2f} s", f"{m.split_rate:.0f}x realtime", ""),
             ("sound (AAC, once)", f"{m.seconds / m.audio_rate:.2f} s", f"{m.audio_rate:.0f}x realtime", ""),
             ("join (concat + mux)", f"{m.seconds / m.join_rate:.2f} s", f"{m.join_rate:.0f}x realtime", ""),
             ("check at one cut (decode 1 s)", f"{m.check_per_cut_s:.3f} s", "", ""),
             ("transfer up / down (moto, loopback)", f"{up_s:.2f} / {down_s:.2f} s",
              f"{size / MB:.0f} MB", f"{size / up_s / MB:.0f} / {size / down_s / MB:.0f} MB/s")]
    print_table(rows)


def print_model(model: Model, title: str) -> None:
    from chalicelib.config import get_settings

    settings = get_settings()
    print(f"\nmodel ({title}): one 1.7 vCPU worker encodes {model.worker_rate:.2f}x realtime (single thread "
          f"{model.m.thread_rate:.2f}x x 1.7 x thread scaling {model.scaling:.2f}); S3 {model.s3_mbs:.0f} MB/s, "
          f"{model.latency_s} s per job start, source {model.source_mbps} Mbps (at most "
          f"{settings.max_video_bytes // MB} MB), output the plan's cap or {model.crf_mbps} Mbps; segments of "
          f"{settings.segment_seconds} s, fan-out above {settings.fanout_above_seconds} s; {LAMBDA_GB:.2f} GB at "
          f"${GB_SECOND_USD}/GB-s")
    rows = [("1080p video", "workers", "path", "segments", "wall", "longest job", "compute", "cost", "goal")]
    for seconds, label in ((600, "10 min"), (7200, "2 h")):
        single = model.single(seconds)
        rows.append((label, 1, "one ffmpeg", "-", f"{single['wall']:.0f} s", f"{single['longest']:.0f} s",
                     f"{single['busy'] * LAMBDA_GB:.0f} GB-s", f"${cost(single['busy'], 1):.4f}",
                     "over 15 min" if single["longest"] > LAMBDA_LIMIT_SECONDS else ""))
        for workers in (1, 4, 16, 64):
            run = model.fanned(seconds, workers)
            goal = "< 60 s: met" if seconds == 600 and workers == 16 and run["wall"] < 60 else (
                "< 60 s: MISSED" if seconds == 600 and workers == 16 else "")
            rows.append((label, workers, "fan-out", run["segments"], f"{run['wall']:.0f} s",
                         f"{run['longest']:.0f} s", f"{run['busy'] * LAMBDA_GB:.0f} GB-s",
                         f"${cost(run['busy'], run['jobs']):.4f}", goal))
    print_table(rows)
    limit = settings.max_duration_seconds
    worst = max((model.fanned(seconds, 16) for seconds in range(model.segment_s, limit + 1, model.segment_s)),
                key=lambda run: run["longest"])
    longest = model.fanned(limit, 16)
    print(f"\nevery duration up to the limit ({limit} s): the longest single job is {worst['longest']:.0f} s "
          f"(limit {LAMBDA_LIMIT_SECONDS} s); {limit} s on 16 workers takes {longest['wall']:.0f} s wall, "
          f"{longest['segments']} segments, join disk {longest['disk'] / MB:.0f} MB")


if __name__ == "__main__":
    main()
