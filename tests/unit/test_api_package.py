"""The API function stays small and fast to start: importing app.py never pulls in the worker's or the
dev stack's heavy modules, and requirements.txt holds no media tools."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
HEAVY = ("yt_dlp", "av", "ffmpeg", "imageio_ffmpeg", "telegram", "chalicelib.media", "chalicelib.local", "moto")


def test_importing_app_loads_no_heavy_module():
    code = "import json, sys, app; print(json.dumps(sorted(sys.modules)))"
    loaded = json.loads(subprocess.run([sys.executable, "-c", code], cwd=ROOT, check=True, capture_output=True,
                                       text=True).stdout)
    offenders = [m for m in loaded if any(m == h or m.startswith(h + ".") for h in HEAVY)]
    assert offenders == []


def test_api_requirements_hold_no_media_tools():
    lines = [line.split("#")[0].strip().lower() for line in (ROOT / "requirements.txt").read_text().splitlines()]
    names = {line.split("=")[0].split("[")[0].split(">")[0].split("<")[0] for line in lines if line}
    assert names and not names & {"yt-dlp", "imageio-ffmpeg", "av", "ffmpeg-python", "moto"}
