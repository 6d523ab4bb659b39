"""`prsnl-video` against `make run`'s stack, as a person types it."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from tests.e2e.conftest import ROOT, free_port

pytestmark = pytest.mark.e2e


def cli(stack: dict, *args: str, **env: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "chalicelib.cli", *args], cwd=ROOT, env={**stack["env"], **env},
                          capture_output=True, text=True, timeout=300)


def test_capture_shows_size_speed_and_stage_then_a_summary(local_stack):
    slow = local_stack["samples"][0].replace("/files/", "/slow/") + "?bps=60000"
    done = cli(local_stack, "capture", slow)
    assert done.returncode == 0, done.stderr
    assert " MB of " in done.stdout and " MB/s" in done.stdout and "downloading" in done.stdout
    summary = done.stdout.rsplit("\n", 4)[-4:]
    assert "ready" in summary[1] and summary[2].strip().startswith("watch: http://127.0.0.1:")
    video_id = summary[1].split()[0]
    shown = cli(local_stack, "show", video_id)
    assert shown.returncode == 0 and "ready" in shown.stdout and "watch: http" in shown.stdout
    assert '"video_id"' in cli(local_stack, "show", video_id, "--json").stdout
    rendition = cli(local_stack, "transcode", video_id, "360p")
    assert rendition.returncode == 0, rendition.stderr
    assert "queued: 360p" in rendition.stdout and "watch: http" in rendition.stdout


def test_api_down_says_so(local_stack):
    url = f"http://127.0.0.1:{free_port()}"
    down = cli(local_stack, "list", PRSNL_API_URL=url, PRSNL_API_KEY="prsnl_x")
    assert down.returncode == 1
    assert down.stderr.strip() == f"error: cannot reach the API at {url} — is `make run` running?"


def test_output_to_a_closed_pipe_is_no_traceback(local_stack):
    """`prsnl-video list | head`: the reader is gone before the command writes."""
    process = subprocess.Popen([sys.executable, "-m", "chalicelib.cli", "stats"], cwd=ROOT, env=local_stack["env"],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    process.stdout.close()
    stderr = process.stderr.read()
    assert process.wait(timeout=120) == 0
    assert "Traceback" not in stderr and "BrokenPipe" not in stderr


def test_capture_audio_keeps_the_sound_only(local_stack):
    done = cli(local_stack, "capture", "--audio", "--json", local_stack["samples"][0])
    assert done.returncode == 0, done.stderr
    video = json.loads(done.stdout[done.stdout.index("\n{") + 1:])
    assert (video["status"], video["kind"], video["audio_codec"]) == ("ready", "audio", "aac")
    assert video["file_key"].startswith("audio/") and video["file_key"].endswith(".m4a")
