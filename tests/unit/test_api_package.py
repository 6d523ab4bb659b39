"""The API function stays small and fast to start: importing app.py never pulls in the worker's or the
dev stack's heavy modules, and requirements.txt holds no media tools."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
HEAVY = ("yt_dlp", "av", "ffmpeg", "imageio_ffmpeg", "telegram", "chalicelib.media", "chalicelib.local", "moto")


# the webhook's own path: what handling an update imports (PTB is its business; the worker's tools are not)
WEBHOOK_PATH = ("telegram", "chalicelib.telegram.bot", "chalicelib.telegram.commands", "chalicelib.telegram.replies",
                "chalicelib.telegram.seen_updates", "chalicelib.telegram.accounts", "chalicelib.platforms.telegram")
WORKER_TOOLS = ("yt_dlp", "av", "ffmpeg", "imageio_ffmpeg", "chalicelib.media", "chalicelib.pipeline", "moto")


def _loaded_after(*modules: str) -> list[str]:
    code = f"import json, sys, app; {'; '.join(f'import {m}' for m in modules) or 'pass'}; " \
           "print(json.dumps(sorted(sys.modules)))"
    return json.loads(subprocess.run([sys.executable, "-c", code], cwd=ROOT, check=True, capture_output=True,
                                     text=True).stdout)


def _offenders(loaded: list[str], heavy: tuple[str, ...]) -> list[str]:
    return [m for m in loaded if any(m == h or m.startswith(h + ".") for h in heavy)]


def test_importing_app_loads_no_heavy_module():
    assert _offenders(_loaded_after(), HEAVY) == []


def test_the_webhook_path_loads_none_of_the_worker_tools():
    loaded = _loaded_after(*WEBHOOK_PATH)
    assert "chalicelib.telegram.commands" in loaded
    assert _offenders(loaded, WORKER_TOOLS) == []


def test_api_requirements_hold_no_media_tools():
    lines = [line.split("#")[0].strip().lower() for line in (ROOT / "requirements.txt").read_text().splitlines()]
    names = {line.split("=")[0].split("[")[0].split(">")[0].split("<")[0] for line in lines if line}
    assert names and not names & {"yt-dlp", "imageio-ffmpeg", "av", "ffmpeg-python", "moto"}
