"""The API on `make run`'s stack with real clients: the `prsnl-video` CLI end to end, curl with a Range
header, ffmpeg and yt-dlp on the signed stream URL, and schemathesis fuzzing the OpenAPI document."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import requests

pytestmark = pytest.mark.e2e

ROOT = Path(__file__).resolve().parents[2]


def cli(stack: dict, *args: str, timeout: float = 120) -> subprocess.CompletedProcess:
    """``prsnl-video ARGS`` as a user runs it: it finds the stack through its .local directory."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PRSNL_", "AWS_"))}
    env["PRSNL_LOCAL_DIR"] = str(Path(stack["log"]).parent)
    return subprocess.run([sys.executable, "-m", "chalicelib.cli", *args], cwd=ROOT, env=env, timeout=timeout,
                          capture_output=True, text=True)


def api(stack: dict, method: str, path: str, **kwargs) -> requests.Response:
    return requests.request(method, stack["api_url"] + path, timeout=10, allow_redirects=False,
                            headers={"Authorization": f"Bearer {stack['api_key']}"}, **kwargs)


@pytest.fixture(scope="module")
def captured(local_stack) -> dict:
    """A sample captured with ``prsnl-video capture``, followed by its progress bar until ready."""
    result = cli(local_stack, "capture", local_stack["samples"][0] + "?from=cli", "--title", "From the CLI",
                 "--json")
    assert result.returncode == 0, result.stderr
    video = json.loads(result.stdout[result.stdout.index("\n{") + 1:])
    return {"stdout": result.stdout, "video": video}


@pytest.fixture(scope="module")
def stream_url(local_stack, captured) -> str:
    result = cli(local_stack, "open", captured["video"]["video_id"])
    assert result.returncode == 0, result.stderr
    return result.stdout.strip()


def test_cli_capture_follows_progress_until_ready(captured):
    assert re.search(r"\[#{30}\] 100\.0% ready", captured["stdout"])
    assert captured["video"]["status"] == "ready" and captured["video"]["title"] == "From the CLI"


def test_cli_list_show_and_stats(local_stack, captured):
    video_id = captured["video"]["video_id"]
    listing = cli(local_stack, "list", "--status", "ready")
    assert listing.returncode == 0 and video_id in listing.stdout and "From the CLI" in listing.stdout
    shown = json.loads(cli(local_stack, "show", video_id, "--json").stdout)
    assert shown["metadata"]["codec"] == "h264" and set(shown["metadata"]["thumbnails"]) == {"small", "medium", "large"}
    stats = json.loads(cli(local_stack, "stats").stdout)
    assert stats["video_count"] >= 1 and stats["bytes_used"] >= captured["video"]["bytes_stored"]
    missing = cli(local_stack, "show", "no-such-video")
    assert missing.returncode == 1 and "not_found" in missing.stderr


def test_curl_with_a_range_gets_206_and_the_right_bytes(stream_url, tmp_path):
    whole = requests.get(stream_url, timeout=10)
    assert whole.status_code == 200 and whole.headers["Content-Type"] == "video/mp4"
    headers, body = tmp_path / "headers.txt", tmp_path / "part.bin"
    subprocess.run(["curl", "-s", "-r", "100-1099", "-D", str(headers), "-o", str(body), stream_url],
                   check=True, timeout=30)
    assert headers.read_text().split()[1] == "206"
    assert re.search(rf"content-range: bytes 100-1099/{len(whole.content)}", headers.read_text(), re.I)
    assert body.read_bytes() == whole.content[100:1100]


def test_ffmpeg_reads_the_stream_url(stream_url):
    from chalicelib.media.tools import ffmpeg_exe

    result = subprocess.run([ffmpeg_exe(), "-hide_banner", "-i", stream_url, "-f", "null", "-"],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr[-2000:]
    assert re.search(r"Video: h264", result.stderr) and re.search(r"Audio: aac", result.stderr)


def test_yt_dlp_downloads_the_stream_url(stream_url, tmp_path):
    target = tmp_path / "download.mp4"
    result = subprocess.run([sys.executable, "-m", "yt_dlp", "--no-config", "-q", "-o", str(target), stream_url],
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert target.read_bytes() == requests.get(stream_url, timeout=10).content


def test_thumbnail_and_stream_redirect_for_http_clients(local_stack, captured):
    video_id = captured["video"]["video_id"]
    response = api(local_stack, "GET", f"/api/videos/{video_id}/thumbnail?size=small")
    assert response.status_code == 302
    image = requests.get(response.headers["Location"], timeout=10)
    assert image.status_code == 200 and image.headers["Content-Type"] == "image/jpeg"


def test_cli_delete_removes_the_video(local_stack, captured):
    video_id = captured["video"]["video_id"]
    assert cli(local_stack, "delete", video_id).returncode == 0
    assert api(local_stack, "GET", f"/api/videos/{video_id}").status_code == 404
    assert cli(local_stack, "delete", video_id).returncode == 1


def test_schemathesis_finds_no_server_error(local_stack, tmp_path):
    # GIVEN the OpenAPI document, the running stack and a config: chalice local answers 501 to TRACE and
    # QUERY where API Gateway answers 403, so the coverage phase does not try those two
    # AND a user of its own: what the fuzzing sets and deletes (caption languages, videos) is no other test's
    created = cli(local_stack, "user", "create", "fuzzer")
    assert created.returncode == 0, created.stderr
    api_key = re.search(r"API key \(shown once\): (\S+)", created.stdout).group(1)
    config = tmp_path / "schemathesis.toml"
    config.write_text('[phases.coverage]\nunexpected-methods = ["get", "put", "post", "delete", "options", "patch"]\n')
    # WHEN schemathesis tests every operation for a bounded time (one worker: hypothesis is not thread-safe)
    result = subprocess.run(
        [sys.executable, "-m", "schemathesis.cli", "--config-file", str(config), "run",
         str(ROOT / "chalicelib" / "api" / "openapi.yaml"), "--url", local_stack["api_url"],
         "--header", f"Authorization: Bearer {api_key}",
         "--checks", "not_a_server_error,response_schema_conformance", "--max-time", "40", "--workers", "1",
         "--suppress-health-check", "all", "--seed", "1"],
        cwd=tmp_path, capture_output=True, text=True, timeout=180)
    # THEN no answer is a 5xx or strays from the document
    assert result.returncode == 0, result.stdout[-5000:]


def test_chalice_local_answers_every_error_in_the_api_shape(local_stack):
    # GIVEN the real `chalice local` of the stack: unknown paths, wrong methods, non-JSON bodies
    for method, path, kwargs, status, code in [
            ("GET", "/nothing", {}, 404, "not_found"),
            ("POST", "/api/videos/v1/nothing/deeper", {}, 404, "not_found"),
            ("PUT", "/api/videos", {}, 405, "method_not_allowed"),
            ("POST", "/api/capture", {"data": "url=x", "headers": {"Content-Type": "text/plain"}}, 415,
             "unsupported_media_type"),
            ("POST", "/api/capture", {"data": '{"url": ', "headers": {"Content-Type": "application/json"}}, 400,
             "invalid_json")]:
        headers = {"Authorization": f"Bearer {local_stack['api_key']}", **kwargs.pop("headers", {})}
        response = requests.request(method, local_stack["api_url"] + path, headers=headers, timeout=10, **kwargs)
        # THEN each is JSON {"error": {"code", "message"}} with its status
        assert response.status_code == status, (method, path, response.text)
        assert response.headers["Content-Type"].startswith("application/json")
        assert response.json()["error"]["code"] == code
    # AND the web library, the OpenAPI document and its page are there without a key
    for path, kind in (("/", "text/html"), ("/api/openapi.yaml", "application/yaml"), ("/api/docs", "text/html")):
        response = requests.get(local_stack["api_url"] + path, timeout=10)
        assert response.status_code == 200 and response.headers["Content-Type"].startswith(kind), path
