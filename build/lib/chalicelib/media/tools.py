"""Which ffmpeg we run, what versions we run, and how an ffmpeg command is run.

The binary comes from the imageio-ffmpeg wheel so that development, CI and the worker image run
the same build; ``PRSNL_FFMPEG`` points at another one (a system ffmpeg) when configured.
"""

from __future__ import annotations

import re
import subprocess
import tempfile
from collections.abc import Callable
from importlib.metadata import version

from chalicelib.config import get_settings
from chalicelib.errors import PermanentJobError

_STDERR_TAIL = 500


def ffmpeg_exe() -> str:
    configured = get_settings().ffmpeg_binary
    if configured:
        return configured
    import imageio_ffmpeg

    return imageio_ffmpeg.get_ffmpeg_exe()


def tool_versions() -> dict:
    """Versions for the deep health check: proves the worker can actually start its tools."""
    banner = subprocess.run([ffmpeg_exe(), "-version"], capture_output=True, text=True, check=True).stdout
    match = re.match(r"ffmpeg version (\S+)", banner)
    return {
        "ffmpeg": match.group(1) if match else banner.split("\n", 1)[0],
        "yt_dlp": version("yt-dlp"),
        "av": version("av"),
    }


def run_ffmpeg(stream, *, duration: float | None = None,
               on_progress: Callable[[float], None] | None = None) -> None:
    """Run an ffmpeg-python graph with our binary.

    A non-zero exit means ffmpeg could not read or encode this media, which no retry fixes: it
    becomes ``invalid_media``. Progress comes from ``-progress pipe:1`` and only moves forward
    (its ``out_time`` can step back between streams); stderr goes to a file so a chatty failure
    cannot fill a pipe and block ffmpeg.
    """
    args = (stream.global_args("-hide_banner", "-nostdin", "-nostats", "-loglevel", "error",
                               "-progress", "pipe:1")
            .overwrite_output().compile(cmd=ffmpeg_exe()))
    with tempfile.TemporaryFile() as stderr:
        with subprocess.Popen(args, stdout=subprocess.PIPE, stderr=stderr, text=True) as proc:
            done = 0.0
            for line in proc.stdout:
                key, _, value = line.strip().partition("=")
                if on_progress and duration and key == "out_time_us" and value.isdigit():
                    done = max(done, min(1.0, int(value) / 1e6 / duration))
                    on_progress(done)
        if proc.returncode != 0:
            stderr.seek(0)
            detail = stderr.read().decode(errors="replace").strip()[-_STDERR_TAIL:]
            raise PermanentJobError(f"ffmpeg failed: {detail or proc.returncode}", code="invalid_media")
