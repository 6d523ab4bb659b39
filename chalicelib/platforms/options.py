"""The yt-dlp options every platform starts from: format choice, cookies, proxy, retries.

Cookies and proxies are secrets/deployment choices, read through ``Settings``: cookies (Netscape cookie
file text) from ``PRSNL_COOKIES_<PLATFORM>``, else from the JSON secret named by ``PRSNL_PLATFORM_COOKIES_SECRET``
(``{"youtube": "<text>", ...}``, read once per container); proxies from ``PRSNL_PROXY_<PLATFORM>`` or ``PRSNL_PROXY``.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from pathlib import Path

COOKIE_HEADER = "# Netscape HTTP Cookie File"


def build(platform: str, settings, *, request_interval: float) -> dict:
    opts = {
        "format": format_selector(settings.max_video_bytes),
        "format_sort": format_sort(settings.max_height),
        "merge_output_format": "mp4",
        "quiet": True,
        "no_warnings": True,
        "noprogress": True,
        "socket_timeout": 30,
        "retries": 3,
        "fragment_retries": 3,
        "extractor_retries": 2,
        "retry_sleep_functions": {"http": backoff, "fragment": backoff, "extractor": backoff},
        "sleep_interval_requests": request_interval,
    }
    if path := cookie_file(platform, settings):
        opts["cookiefile"] = str(path)
    if url := settings.proxy_for(platform):
        opts["proxy"] = url
    return opts


def format_selector(max_bytes: int) -> str:
    """The best format that fits (unknown sizes pass: the download enforces the limit), else the best:
    its known size then tells the worker the item is too large.

    ``bv*+ba`` keeps a video that already has sound as it is (yt-dlp drops the extra audio).
    """
    fits = _fits(max_bytes)
    return f"bv*{fits}+ba/b{fits}/bv*+ba/b"


def audio_only(opts: dict, max_bytes: int) -> dict:
    """The options of an audio capture: the best sound alone that fits (else a whole file, whose sound the worker
    keeps), AAC in M4A first so it is copied, and the item's artwork (its thumbnail) beside the media."""
    fits = _fits(max_bytes)
    return opts | {"format": f"ba{fits}/b{fits}/ba/b", "writethumbnail": True,
                   "format_sort": ["acodec:aac", "ext:m4a", *opts.get("format_sort", ())]}


def _fits(max_bytes: int) -> str:
    return f"[filesize<?{max_bytes}][filesize_approx<?{max_bytes}]"


def format_sort(max_height: int) -> list[str]:
    """H.264 and AAC in MP4 first, so the remux fast path applies; then the largest up to max_height."""
    return ["vcodec:h264", f"res:{max_height}", "acodec:aac", "ext:mp4:m4a"]


def backoff(*, n: int) -> float:
    """Seconds before yt-dlp's own retry number ``n + 1``; yt-dlp calls it as ``sleep_func(n=count - 1)``."""
    return min(2.0**n, 30.0)


def cookie_file(platform: str, settings) -> Path | None:
    """Write the platform's cookie text to a private temp file (named by its hash, so written once)."""
    text = settings.platform_cookies.get(platform, "").strip()
    if not text and settings.platform_cookies_secret:
        text = (_secret_cookies(settings.platform_cookies_secret).get(platform) or "").strip()
    if not text:
        return None
    if not text.startswith(("# Netscape HTTP Cookie File", "# HTTP Cookie File")):
        text = f"{COOKIE_HEADER}\n{text}"
    digest = hashlib.sha256(text.encode()).hexdigest()[:16]
    path = Path(tempfile.gettempdir()) / f"prsnl-cookies-{platform}-{digest}.txt"
    if not path.exists():
        partial = path.with_suffix(f".{os.getpid()}.part")
        partial.touch(mode=0o600)
        partial.write_text(text + "\n")
        partial.replace(path)
    return path


def _secret_cookies(secret_id: str) -> dict:
    from chalicelib import aws  # worker side only: detection stays free of boto3

    return json.loads(aws.secret(secret_id))
