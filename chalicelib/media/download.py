"""yt-dlp as a library: metadata first (no download), then the download with a hard byte limit.

yt-dlp's ``max_filesize`` skips silently and is not enforced without a Content-Length, so the limit
is enforced in the progress hook by raising, and the partial file is removed with the temp dir.
Every connection runs inside ``netguard.guarded_connections``: redirects and embedded URLs are checked.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager, nullcontext
from functools import cache
from pathlib import Path
from urllib.parse import urljoin

from chalicelib.errors import PermanentJobError, PrsnlError, TransientJobError
from chalicelib.media.impersonation import pinned_curl_handler
from chalicelib.netguard import guarded_connections

ProgressCallback = Callable[..., None]
Classify = Callable[[BaseException], PrsnlError]


# yt-dlp's request handlers that open connections through Python's socket module (the guard's filter);
# curl_cffi's is replaced by the pinned one of ``media.impersonation``.
GUARDED_HANDLERS = frozenset({"Requests", "Urllib", "Websockets"})
MAX_REDIRECTS = 5
ARTWORK = "artwork"  # the item's thumbnail, when the options ask yt-dlp for it (``writethumbnail``)
BLOCK_BYTES = 64 * 1024  # yt-dlp's first read (1 KiB by default; it grows, or shrinks on a slow source, from there)
_kept = threading.local()  # the yt-dlp of the job this thread runs (``one_job``), and the options it was built with


class DownloadLimitExceeded(Exception):
    """Raised from the progress hook when the bytes pass the limit (a server that lies about its size)."""


class YtDlpDownloader:
    @contextmanager
    def one_job(self) -> Iterator[YtDlpDownloader]:
        """One yt-dlp for a job's probe and downloads (a build sets up its extractors, request handlers and caches),
        closed when the job ends. Kept per thread: the worker loop runs a job on one thread, several jobs at once."""
        _kept.ydl, _kept.options = None, None
        try:
            yield self
        finally:
            _kept.__dict__.pop("options", None)
            ydl = _kept.__dict__.pop("ydl", None)
            if ydl is not None:
                ydl.close()

    def _ydl(self, options: dict):
        """The job's yt-dlp (built at its first call, again when a call asks for other options: an audio item's
        artwork), or outside a job one for this call alone."""
        if not hasattr(_kept, "ydl"):
            return youtube_dl(_base(options))
        if _kept.ydl is None or _kept.options != options:
            if _kept.ydl is not None:
                _kept.ydl.close()
            _kept.ydl, _kept.options = youtube_dl(_base(options)), options
        return nullcontext(_kept.ydl)

    def probe(self, url: str, *, options: dict, allow_loopback: bool, classify: Classify) -> dict:
        """Metadata and the chosen format, without downloading the media."""
        with guarded_connections(allow_loopback=allow_loopback), self._ydl(options) as ydl:
            info = _run(lambda: self._extract(ydl, url), classify)
            info = ydl.sanitize_info(info)
            if not _known_size(info):
                info["_content_length"] = _content_length(ydl, info)
            return info

    def _extract(self, ydl, url: str) -> dict:
        """The site's extractor, then yt-dlp's processing of its answer (format choice) without downloading."""
        with _FIRST_PROBE:
            _patterns_compiled()
        return ydl.extract_info(url, download=False)

    def follow_redirects(self, url: str, *, allow_loopback: bool, arrived: Callable[[str], bool],
                         proxy: str | None = None) -> str:
        """Where a short link leads: its redirects followed one at a time, each connection through the address
        guard, until a link ``arrived`` accepts (the target page itself is not fetched) or one that is no redirect."""
        import requests

        with guarded_connections(allow_loopback=allow_loopback), requests.Session() as session:
            session.trust_env = False  # no proxy from the environment: only the platform's configured one
            session.proxies = {"http": proxy, "https": proxy} if proxy else {}
            for _ in range(MAX_REDIRECTS):
                try:
                    with session.get(url, allow_redirects=False, stream=True, timeout=20) as response:
                        location = response.headers.get("Location") if response.is_redirect else None
                except requests.RequestException as exc:
                    raise TransientJobError(f"the short link could not be followed ({type(exc).__name__})") from None
                if not location:
                    return url
                url = urljoin(url, location)
                if arrived(url):
                    return url
        raise PermanentJobError("the short link redirects too many times", code="unsupported_url")

    def download(self, info: dict, dest: Path, *, options: dict, max_bytes: int, allow_loopback: bool,
                 on_progress: ProgressCallback, classify: Classify) -> Path:
        """Download the probed media into ``dest``; returns the file. Stops as soon as bytes pass max_bytes."""
        per_file: dict[str, int] = {}  # a video and an audio format download to separate files

        def hook(status: dict) -> None:
            per_file[status.get("filename", "")] = status.get("downloaded_bytes") or 0
            done = sum(per_file.values())
            if done > max_bytes:
                raise DownloadLimitExceeded(done)
            if status.get("status") == "downloading":
                total = status.get("total_bytes") or status.get("total_bytes_estimate")
                on_progress("downloading", bytes=done, total=total, speed=status.get("speed"),
                            eta=status.get("eta"), percent=round(100 * done / total, 1) if total else None)

        with guarded_connections(allow_loopback=allow_loopback), self._ydl(options) as ydl:
            ydl.params["outtmpl"].update(default=str(dest / "media.%(ext)s"),
                                         thumbnail=str(dest / f"{ARTWORK}.%(ext)s"))
            ydl.params["paths"] = {"home": str(dest), "temp": str(dest)}
            ydl.add_progress_hook(hook)
            try:
                _run(lambda: ydl.process_ie_result(dict(info), download=True), classify, max_bytes=max_bytes)
            finally:
                ydl._progress_hooks.remove(hook)  # yt-dlp has no public way to take a hook back
        files = sorted(p for p in dest.iterdir() if p.is_file() and p.name.startswith("media.")
                       and not p.name.endswith((".part", ".ytdl")))
        if not files:
            raise PermanentJobError("the download produced no media file", code="invalid_media")
        return max(files, key=lambda p: p.stat().st_size)


_FIRST_PROBE = threading.Lock()


@cache
def _patterns_compiled() -> None:
    """yt-dlp tries a link against every extractor's URL pattern, compiling each the first time: 0.75 s of CPU for
    its 1,754 in a new process, 14 ms after. Concurrent first probes each compiled them all, one at a time under
    the GIL (10 captures at once in a new worker took 3x one); the first compiles them here, the others wait."""
    from yt_dlp.extractor import gen_extractor_classes

    for extractor in gen_extractor_classes():
        extractor.suitable("http://localhost/")


def artwork(dest: Path) -> Path | None:
    """The artwork yt-dlp wrote beside the media in ``dest`` (audio captures ask for it), if the item had one."""
    return next((p for p in sorted(dest.glob(f"{ARTWORK}.*")) if not p.name.endswith(".part")), None)


@cache
def _guardedyoutube_dl() -> type:
    import yt_dlp

    from chalicelib import platforms

    class GuardedYoutubeDL(yt_dlp.YoutubeDL):
        """yt-dlp whose connections all pass the address guard, with our platforms' extractors in place of
        yt-dlp's own where they keep more of a post, and that estimates each format's size from its bitrate
        before choosing one, so a size filter can pass over a stream variant that would not fit."""

        def __init__(self, params=None, auto_init=True):
            super().__init__(params, auto_init)
            for extractor in platforms.extractors():
                self.add_info_extractor(extractor())  # an instance: yt-dlp would make its own from the class

        def add_default_info_extractors(self):
            # yt-dlp's own looks each of its 1,754 extractors' names up in a list of them all: 54 ms of a build's
            # 61, on every job. The same classes in the same order, listed once per process.
            if "allowed_extractors" in self.params:
                return super().add_default_info_extractors()
            for extractor in _enabled_extractors():
                self.add_info_extractor(extractor)

        def build_request_director(self, handlers, preferences=None):
            # curl_cffi (impersonation) resolves names and follows redirects inside libcurl, where the guard
            # cannot see them: it is replaced by its pinned form, which checks every host and hop itself
            allowed = [handler for handler in handlers if handler.RH_KEY in GUARDED_HANDLERS]
            if (pinned := pinned_curl_handler()) and any(h.RH_KEY == "CurlCFFI" for h in handlers):
                allowed.append(pinned)
            return super().build_request_director(allowed, preferences)

        def process_video_result(self, info_dict, download=True):
            estimate_sizes(info_dict)
            return super().process_video_result(info_dict, download)

        def _forceprint(self, key, info_dict):
            # yt-dlp renders the formats, thumbnails and subtitles tables at every stage of every download, in case
            # ``--print`` (or ``--get-url`` and the like) asks for them; nothing here does (10 ms of the GIL a download)
            if self.params["print_to_file"].get(key) or any(
                    value for name, value in self.params.items() if name.startswith("force")):  # forceprint too
                return super()._forceprint(key, info_dict)
            return info_dict

    return GuardedYoutubeDL


@cache
def _enabled_extractors() -> tuple[type, ...]:
    """yt-dlp's default extractors, as ``YoutubeDL.add_default_info_extractors`` lists them (one per name)."""
    from yt_dlp.extractor import gen_extractor_classes

    by_name = {extractor.IE_NAME.lower(): extractor for extractor in gen_extractor_classes()}
    return tuple(extractor for extractor in by_name.values() if extractor._ENABLED)


def youtube_dl(params: dict):
    """yt-dlp with the address guard's request handlers (used inside ``guarded_connections``)."""
    return _guardedyoutube_dl()(params)


def platform_access() -> dict:
    """What our yt-dlp reaches the platforms with (for the deep health check): its version, the JavaScript runtimes
    it found (YouTube's player challenges) and the browsers it can impersonate behind the guard (TikTok, Instagram).
    yt-dlp has no public API for the last two; these are what ``yt-dlp -v`` and ``--list-impersonate-targets`` read."""
    import yt_dlp

    with youtube_dl(_base({})) as ydl:
        runtimes = sorted(f"{name} {runtime.info.version}" for name, runtime in ydl._js_runtimes.items()
                          if runtime is not None and runtime.info is not None and runtime.info.supported)
        targets = sorted({str(target) for target, _ in ydl._get_available_impersonate_targets()})
    return {"yt_dlp": yt_dlp.version.__version__, "js_runtimes": runtimes, "impersonate_targets": targets}


def estimate_sizes(info: dict) -> None:
    """``filesize_approx`` = bitrate x duration for formats of unknown size (yt-dlp leaves it empty)."""
    duration = info.get("duration")
    for fmt in info.get("formats") or ():
        if duration and fmt.get("tbr") and not (fmt.get("filesize") or fmt.get("filesize_approx")):
            fmt["filesize_approx"] = int(duration * fmt["tbr"] * 1000 / 8)


def expected_size(info: dict) -> int | None:
    """The best pre-download size estimate: the chosen formats' filesize, else the Content-Length."""
    return _known_size(info) or info.get("_content_length")


def _known_size(info: dict) -> int | None:
    formats = info.get("requested_formats") or [info]
    sizes = [f.get("filesize") or f.get("filesize_approx") for f in formats]
    return sum(sizes) if sizes and all(sizes) else None


def _content_length(ydl, info: dict) -> int | None:
    """A HEAD on a direct file's URL (yt-dlp gives no size for those)."""
    from yt_dlp.networking import HEADRequest

    url = info.get("url")
    if not url or info.get("protocol", "http").startswith("m3u8"):
        return None
    try:
        with ydl.urlopen(HEADRequest(url, headers=info.get("http_headers") or {})) as response:
            length = response.headers.get("Content-Length")
    except Exception:  # a server without HEAD: the download limit still holds
        return None
    return int(length) if length and length.isdigit() else None


def _base(options: dict) -> dict:
    """Our defaults, the platform's options, then what the address guard needs, which no platform may change:
    fragments in this thread (the guard is per thread), HLS by yt-dlp itself, and an ffmpeg that may read
    only local files (yt-dlp hands some streams to ffmpeg, whose connections the guard cannot see)."""
    from chalicelib.media.tools import ffmpeg_exe

    defaults = {"quiet": True, "no_warnings": True, "noprogress": True, "noplaylist": False,
                "socket_timeout": 20, "retries": 2, "fragment_retries": 3, "buffersize": BLOCK_BYTES,
                "color": {"stderr": "never", "stdout": "never"}, "js_runtimes": js_runtimes()}
    guarded = {"ffmpeg_location": ffmpeg_exe(), "concurrent_fragment_downloads": 1, "hls_prefer_native": True,
               "external_downloader": {"default": "native"},
               "external_downloader_args": {"ffmpeg_i": ["-protocol_whitelist", "file,crypto,data"]}}
    return defaults | options | guarded


def js_runtimes() -> dict:
    """Deno (YouTube's player challenges) from its PyPI package, wherever pip put it: yt-dlp looks only in Python's
    scripts directory and on PATH, which miss it under ``pip install --target`` (the worker image)."""
    try:
        import deno

        return {"deno": {"path": deno.find_deno_bin()}}
    except (ImportError, FileNotFoundError):
        return {"deno": {}}  # yt-dlp's own lookup


def _run(call, classify: Classify, *, max_bytes: int | None = None):
    """Run a yt-dlp call, turning its exceptions into our errors (the platform classifies its own)."""
    import yt_dlp

    try:
        return call()
    except Exception as exc:
        cause = _our_cause(exc)
        if isinstance(cause, DownloadLimitExceeded):
            raise PermanentJobError(f"the file is larger than the limit of {max_bytes} bytes",
                                    code="too_large") from None
        if cause is not None:
            raise cause from None
        if isinstance(exc, (yt_dlp.utils.YoutubeDLError, OSError)):  # incl. a request error raised outside an extractor
            raise classify(exc) from exc
        raise


def _our_cause(exc: BaseException | None) -> BaseException | None:
    """Our own exception (limit, blocked address) under yt-dlp's wrappers, if that is what stopped it.

    yt-dlp wraps errors in ``exc_info``/causes, and its request director keeps a handler's
    unexpected errors (our guard's refusal) in ``NoSupportingHandlers.unexpected_errors``.
    """
    pending, seen = [exc], set()
    while pending:
        exc = pending.pop(0)
        if exc is None or id(exc) in seen:
            continue
        if isinstance(exc, (PrsnlError, DownloadLimitExceeded)):
            return exc
        seen.add(id(exc))
        inner = getattr(exc, "exc_info", None)
        pending += [inner[1] if inner else None, exc.__cause__, exc.__context__,
                    *getattr(exc, "unexpected_errors", ())]
    return None
