"""The API's client commands: ``capture URL`` (with a live progress line), ``retry``, ``list``, ``show``, ``open``,
``transcode``, ``delete``, ``stats`` (``--days N``: the daily series as a table); ``show`` and ``capture`` print a
short summary unless ``--json``.
They speak HTTP to the API: PRSNL_API_URL and PRSNL_API_KEY, or the running
``make run`` stack's .local/stack.json.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time

import requests

FINISHED = ("succeeded", "failed", "cancelled")
BAR_WIDTH = 30


class ApiError(Exception):
    pass


class Api:
    """The API at ``url`` with one key; errors come back as ApiError with the server's code and message."""

    def __init__(self, url: str, key: str):
        self.url = url.rstrip("/")
        self.session = requests.Session()
        self.session.headers["Authorization"] = f"Bearer {key}"

    @classmethod
    def from_environment(cls) -> Api:
        url, key = os.environ.get("PRSNL_API_URL"), os.environ.get("PRSNL_API_KEY")
        if not (url and key):
            from chalicelib.local.stack import stack_file

            try:
                stack = json.loads(stack_file().read_text())
            except (OSError, ValueError):
                raise ApiError("set PRSNL_API_URL and PRSNL_API_KEY, or start the local stack (make run)") from None
            url, key = url or stack["api_url"], key or stack["api_key"]
        return cls(url, key)

    def call(self, method: str, path: str, **kwargs):
        try:
            response = self.session.request(method, self.url + path, timeout=30, allow_redirects=False, **kwargs)
        except requests.ConnectionError:
            raise ApiError(f"cannot reach the API at {self.url} — is `make run` running?") from None
        if response.status_code >= 400:
            try:
                error = response.json()["error"]
                message = f"{error['message']} ({error['code']})"
            except (ValueError, KeyError, TypeError):
                message = response.text[:200]
            raise ApiError(f"{response.status_code}: {message}")
        return response.json() if response.content else None


def register(subparsers) -> None:
    capture = subparsers.add_parser("capture", help="save a link and follow it until the video is ready")
    capture.add_argument("url")
    capture.add_argument("--title")
    capture.add_argument("--tag", dest="tags", action="append", default=[], help="a tag (repeat for more)")
    capture.add_argument("--note")
    capture.add_argument("--audio", action="store_true", help="keep the sound only (AAC in M4A)")
    capture.add_argument("--no-wait", dest="wait", action="store_false", help="print the job and return")
    capture.add_argument("--json", action="store_true", help="the video's whole record as JSON")
    capture.set_defaults(run=_command(run_capture))

    listing = subparsers.add_parser("list", help="your videos, newest first")
    listing.add_argument("--status")
    listing.add_argument("--platform")
    listing.add_argument("--limit", type=int, default=20)
    listing.add_argument("--cursor", help="the next page (printed under a full page)")
    listing.set_defaults(run=_command(run_list))

    for name, helptext, handler in (("show", "one video: a summary (its record and metadata with --json)", run_show),
                                    ("delete", "delete a video, its renditions and thumbnails", run_delete)):
        parser = subparsers.add_parser(name, help=helptext)
        parser.add_argument("video_id")
        parser.add_argument("--json", action="store_true", help=argparse.SUPPRESS if name == "delete" else
                            "the whole record and metadata as JSON")
        parser.set_defaults(run=_command(handler))

    retry = subparsers.add_parser("retry", help="queue a failed capture again (same video id) and follow it")
    retry.add_argument("video_id")
    retry.add_argument("--no-wait", dest="wait", action="store_false", help="print the job and return")
    retry.add_argument("--json", action="store_true", help="the video's whole record as JSON")
    retry.set_defaults(run=_command(run_retry))

    transcode = subparsers.add_parser("transcode", help="make a smaller rendition of a video and follow it")
    transcode.add_argument("video_id")
    transcode.add_argument("quality", help="360p, 480p, 720p or 1080p")
    transcode.add_argument("--no-wait", dest="wait", action="store_false", help="print the job and return")
    transcode.set_defaults(run=_command(run_transcode))

    open_ = subparsers.add_parser("open", help="print a short-lived stream URL of a video")
    open_.add_argument("video_id")
    open_.add_argument("--quality", help="360p, 480p, 720p or 1080p (a rendition made by transcode)")
    open_.set_defaults(run=_command(run_open))

    stats = subparsers.add_parser("stats", help="storage used, quota, by platform and by month")
    stats.add_argument("--all", action="store_true", help="everyone's figures (admins)")
    stats.add_argument("--days", type=int, help="your daily figures of the last N days, as a table")
    stats.set_defaults(run=_command(run_stats))


def _command(handler):
    """Run a client command; API errors become one line on stderr and exit status 1."""

    def run(args: argparse.Namespace) -> int:
        try:
            return handler(Api.from_environment(), args)
        except (ApiError, requests.RequestException) as error:
            print(f"error: {error}", file=sys.stderr)
            return 1

    return run


def run_capture(api: Api, args: argparse.Namespace) -> int:
    body = {"url": args.url, "title": args.title, "tags": args.tags, "note": args.note, "audio_only": args.audio}
    answer = api.call("POST", "/api/capture", json={k: v for k, v in body.items() if v})
    video = answer["video"]
    if not answer["created"]:
        print(f"already saved: {video['video_id']} ({video['status']})")
        return 0
    print(f"queued: video {answer['video_id']}, job {answer['job_id']}")
    if not args.wait:
        return 0
    return _finish(api, answer["job_id"], answer["video_id"], as_json=args.json)


def run_retry(api: Api, args: argparse.Namespace) -> int:
    answer = api.call("POST", f"/api/videos/{args.video_id}/retry")
    print(f"queued again: video {answer['video_id']}, job {answer['job_id']}")
    if not args.wait:
        return 0
    return _finish(api, answer["job_id"], answer["video_id"], as_json=args.json)


def run_transcode(api: Api, args: argparse.Namespace) -> int:
    answer = api.call("POST", f"/api/videos/{args.video_id}/transcode", json={"quality": args.quality})
    if not answer.get("job_id") or not args.wait:
        print_json(answer)
        return 0
    print(f"queued: {args.quality} of video {args.video_id}, job {answer['job_id']}")
    return _finish(api, answer["job_id"], args.video_id, as_json=False)


def _finish(api: Api, job_id: str, video_id: str, *, as_json: bool) -> int:
    """Follow the job; then the video's summary (or record), or the failure on stderr."""
    job = follow(api, job_id)
    if job["status"] != "succeeded":
        print(f"{job['status']}: {job.get('error_message') or ''} ({job.get('error_code')})", file=sys.stderr)
        return 1
    video = api.call("GET", f"/api/videos/{video_id}")
    if as_json:
        print_json(video)
    else:
        print_summary(api, video)
    return 0


def follow(api: Api, job_id: str, *, interval: float = 0.5, out=sys.stdout) -> dict:
    """Poll the job, redrawing one progress line, until it finishes."""
    while True:
        job = api.call("GET", f"/api/jobs/{job_id}")
        out.write("\r\033[K" + progress_line(job))
        out.flush()
        if job["status"] in FINISHED:
            out.write("\n")
            return job
        time.sleep(interval)


def progress_line(job: dict) -> str:
    """Like yt-dlp's line while downloading (size, speed, ETA); afterwards the stage it is in, not 0 % again."""
    progress = job.get("progress") or {}
    stage = progress.get("stage") or job["status"]
    percent = 100.0 if job["status"] == "succeeded" else float(progress.get("percent") or 0)
    filled = int(BAR_WIDTH * min(percent, 100) / 100)
    bar = f"[{'#' * filled}{'-' * (BAR_WIDTH - filled)}] {percent:5.1f}%"
    if stage == "downloading" and progress.get("bytes") is not None:
        of = f" of {_mb(progress['total'])}" if progress.get("total") else ""
        speed = f" at {_mb(progress['speed'])}/s" if progress.get("speed") else ""
        eta = f" ETA {int(progress['eta']) // 60}:{int(progress['eta']) % 60:02d}" if progress.get("eta") else ""
        return f"{bar} {_mb(progress['bytes'])}{of}{speed}{eta}  downloading"
    if stage in ("uploading", "probing", "starting", "queued") or "percent" not in progress:
        return f"{stage}..."
    return f"{bar} {stage}"


def _mb(nbytes: float) -> str:
    return f"{nbytes / 1e6:.1f} MB"


def print_summary(api: Api, video: dict) -> None:
    """Title, status, size, duration and a link to watch it."""
    duration = video.get("duration")
    length = f"{int(duration) // 60}:{int(duration) % 60:02d}" if duration else "?"
    print(f"{video.get('title') or video.get('source_url')}")
    print(f"  {video['video_id']}  {video['status']}  {_mb(video.get('bytes_stored') or 0)}  {length}  "
          f"{video.get('width') or '?'}x{video.get('height') or '?'}  {video.get('platform', '')}")
    if video["status"] == "ready":
        stream = api.call("GET", f"/api/videos/{video['video_id']}/stream", params={"redirect": "false"})
        print(f"  watch: {stream['url']}")


def run_list(api: Api, args: argparse.Namespace) -> int:
    params = {"limit": args.limit, "status": args.status, "platform": args.platform, "cursor": args.cursor}
    page = api.call("GET", "/api/videos", params={k: v for k, v in params.items() if v})
    for video in page["videos"]:
        size = video.get("bytes_stored") or 0
        print(f"{video['video_id']}  {video['status']:<10} {video['platform']:<10} {size / 1e6:8.1f} MB  "
              f"{video['created_at'][:16]}  {video.get('title') or video['source_url']}")
    if page["next_cursor"]:
        print(f"more: --cursor {page['next_cursor']}")
    return 0


def run_show(api: Api, args: argparse.Namespace) -> int:
    video = api.call("GET", f"/api/videos/{args.video_id}")
    if not args.json:
        print_summary(api, video)
        return 0
    if video["status"] == "ready":
        video["metadata"] = api.call("GET", f"/api/videos/{args.video_id}/metadata")
    print_json(video)
    return 0


def run_open(api: Api, args: argparse.Namespace) -> int:
    params = {"redirect": "false", **({"quality": args.quality} if args.quality else {})}
    print(api.call("GET", f"/api/videos/{args.video_id}/stream", params=params)["url"])
    return 0


def run_delete(api: Api, args: argparse.Namespace) -> int:
    api.call("DELETE", f"/api/videos/{args.video_id}")
    print(f"deleted {args.video_id}")
    return 0


def run_stats(api: Api, args: argparse.Namespace) -> int:
    if args.days is not None and args.all:
        raise ApiError("--days shows your own series; leave out --all")
    if args.days is None:
        print_json(api.call("GET", "/api/admin/storage/stats" if args.all else "/api/storage/stats"))
        return 0
    stats = api.call("GET", "/api/storage/stats", params={"days": args.days})
    print(series_table(stats["series"]))
    return 0


def series_table(series: list[dict]) -> str:
    """One line a day: the stored size and the video count; a day without a snapshot says so."""
    lines = [f"{'day':<10}  {'stored':>10}  {'videos':>6}"]
    for row in series:
        if row["bytes_used"] is None:
            lines.append(f"{row['day']:<10}  {'no snapshot':>18}")
        else:
            lines.append(f"{row['day']:<10}  {_mb(row['bytes_used']):>10}  {row['video_count']:>6}")
    return "\n".join(lines)


def print_json(data: dict) -> None:
    print(json.dumps(data, indent=2))
