"""`make run` as a personal install: what it saved is there after a Ctrl-C and after a `kill -9` of every
process of the stack, jobs interrupted run again (once, counted once), and a killed stack leaves nothing."""

from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import requests

from tests.e2e.conftest import ROOT, launch, stack_env, stack_pids, start_stack, stop_stack, wait_for

pytestmark = pytest.mark.e2e


def call(stack: dict, method: str, path: str, **kwargs) -> requests.Response:
    return requests.request(method, stack["api_url"] + path, timeout=30, **kwargs,
                            headers={"Authorization": f"Bearer {stack['api_key']}"})


def capture(stack: dict, url: str) -> dict:
    answer = call(stack, "POST", "/api/capture", json={"url": url})
    assert answer.status_code == 202, answer.text
    return answer.json()


def finished(stack: dict, job_id: str, timeout: float = 120) -> dict:
    def done():
        job = call(stack, "GET", f"/api/jobs/{job_id}").json()
        return job if job["status"] in ("succeeded", "failed") else None

    return wait_for(done, timeout=timeout, what=f"job {job_id} finished")


def streamed(stack: dict, video_id: str) -> str:
    """The SHA-256 of the bytes the video's stream link serves."""
    link = call(stack, "GET", f"/api/videos/{video_id}/stream", params={"redirect": "false"})
    assert link.status_code == 200, link.text
    media = requests.get(link.json()["url"], timeout=30)
    assert media.status_code == 200 and len(media.content) > 1000
    return hashlib.sha256(media.content).hexdigest()


def counters(stack: dict) -> dict:
    return call(stack, "GET", "/api/storage/stats").json()


def saved_keys(stack: dict) -> set[str]:
    try:
        return set(json.loads((Path(stack["data_dir"]) / "s3" / stack["bucket"] / "index.json").read_text()))
    except FileNotFoundError:
        return set()


def two_captures(stack: dict) -> dict:
    """Both samples captured and ready: video id -> SHA-256 of what its stream serves."""
    jobs = [capture(stack, url) for url in stack["samples"][:2]]
    for answer in jobs:
        assert finished(stack, answer["job_id"])["status"] == "succeeded"
    return {answer["video_id"]: streamed(stack, answer["video_id"]) for answer in jobs}


def kill_everything(stack: dict) -> None:
    state = Path(stack["env"]["PRSNL_LOCAL_DIR"])
    for pid in stack_pids(state):
        os.kill(pid, signal.SIGKILL)
    stack["process"].wait(timeout=30)
    wait_for(lambda: not stack_pids(state), timeout=30, what="no process of the stack")


def test_library_survives_ctrl_c_stop_and_start(tmp_path):
    env = stack_env(tmp_path / "stack")
    stack = start_stack(env)
    try:
        library = two_captures(stack)
        before = counters(stack)
    finally:
        status = stop_stack(stack)
    assert status == 0
    assert stack["log"].read_text().rstrip().endswith("stopped")

    again = start_stack(env)
    try:
        assert again["api_key"] == stack["api_key"]
        assert {video_id: streamed(again, video_id) for video_id in library} == library
        assert counters(again) == before
        listed = {v["video_id"] for v in call(again, "GET", "/api/videos").json()["videos"]}
        assert listed == set(library)
    finally:
        stop_stack(again)


def saved_files(data: Path) -> dict[str, str]:
    """Every file under the saved library, by its path, with the SHA-256 of its bytes."""
    return {str(path.relative_to(data)): hashlib.sha256(path.read_bytes()).hexdigest()
            for path in sorted(data.rglob("*")) if path.is_file()}


def test_a_library_that_cannot_be_read_back_stops_the_start_and_is_left_as_it_was(tmp_path):
    # GIVEN a saved library one of whose files is gone (a disk error, a person's rm)
    env = stack_env(tmp_path / "stack")
    stack = start_stack(env)
    try:
        library = two_captures(stack)
    finally:
        stop_stack(stack)
    data = Path(stack["data_dir"])
    missing = sorted((data / "s3" / stack["bucket"] / "objects").rglob("*.jpg"))[0]
    kept = missing.read_bytes()
    missing.unlink()
    before, console_before = saved_files(data), stack["log"].read_text()
    # WHEN `make run` starts again
    status = launch(env).wait(timeout=180)
    # THEN it stops saying which file it could not read, and leaves every saved file as it was
    said = stack["log"].read_text()[len(console_before):]
    assert status == 1 and "could not start" in said and missing.name in said, said
    assert saved_files(data) == before
    # AND with the file back, the whole library is back
    missing.write_bytes(kept)
    again = start_stack(env)
    try:
        assert {video_id: streamed(again, video_id) for video_id in library} == library
    finally:
        stop_stack(again)


def saved_statuses(stack: dict, video_ids) -> set[str]:
    """The statuses the last save pass wrote for these videos (a pass may have caught a record mid-capture)."""
    lines = (Path(stack["data_dir"]) / "tables" / "Video.jsonl").read_text().splitlines()
    items = [json.loads(line) for line in lines if line.strip()]
    found = {item["video_id"]["S"]: item["status"]["S"] for item in items if item["video_id"]["S"] in video_ids}
    return set(found.values()) if len(found) == len(video_ids) else set()


def test_library_and_interrupted_job_survive_kill_9_of_every_process(tmp_path):
    env = stack_env(tmp_path / "stack", PRSNL_LOCAL_SAVE_SECONDS="0.5")
    stack = start_stack(env)
    try:
        library = two_captures(stack)
        slow = capture(stack, stack["samples"][0].replace("/files/", "/slow/") + "?bps=20000")
        wait_for(lambda: call(stack, "GET", f"/api/jobs/{slow['job_id']}").json()["status"] == "running",
                 what="the slow capture running")
        files = {call(stack, "GET", f"/api/videos/{v}").json()["file_key"] for v in library}
        wait_for(lambda: files <= saved_keys(stack), what="both videos saved to .local/data")
        wait_for(lambda: saved_statuses(stack, library) == {"ready"}, what="both records saved as ready")
        wait_for(lambda: "running" in (Path(stack["data_dir"]) / "tables" / "Job.jsonl").read_text(),
                 what="the running job saved")
    finally:
        kill_everything(stack)

    again = start_stack(env)
    try:
        assert {video_id: streamed(again, video_id) for video_id in library} == library
        job = finished(again, slow["job_id"])
        assert job["status"] == "succeeded", job
        videos = {v["video_id"]: v for v in call(again, "GET", "/api/videos").json()["videos"]}
        assert set(videos) == {*library, slow["video_id"]}
        stats = counters(again)
        assert stats["video_count"] == 3 and stats["bytes_reserved"] == 0
        assert stats["bytes_used"] == sum(v["bytes_stored"] for v in videos.values())
    finally:
        stop_stack(again)


def test_killed_stack_takes_its_children_and_ffmpeg_along(tmp_path):
    """`kill -9` of the `make run` process alone: moto, the API, the worker and a running ffmpeg die with it."""
    env = stack_env(tmp_path / "stack", PRSNL_COMPRESS_ABOVE_BYTES="1")
    stack = start_stack(env)
    state = Path(env["PRSNL_LOCAL_DIR"])

    def ffmpeg_running():
        for n in range(3):  # new links until one transcode is seen running
            capture(stack, f"{stack['samples'][1]}?n={n}-{os.urandom(3).hex()}")
        return any("ffmpeg" in Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace")
                   for pid in stack_pids(state) if Path(f"/proc/{pid}").exists())

    try:
        wait_for(ffmpeg_running, timeout=120, what="an ffmpeg of the worker running")
    finally:
        os.kill(stack["process"].pid, signal.SIGKILL)
    stack["process"].wait(timeout=10)
    wait_for(lambda: not stack_pids(state), timeout=30, what="no process of the stack left")


def test_a_stopped_worker_is_started_again_alone(tmp_path):
    env = stack_env(tmp_path / "stack")
    stack = start_stack(env)
    worker = []
    try:
        pid = int((Path(env["PRSNL_LOCAL_DIR"]) / "worker.lock").read_text())
        os.kill(pid, signal.SIGKILL)
        wait_for(lambda: "the worker stopped" in stack["log"].read_text(), what="the stack noticing")
        with (tmp_path / "worker.log").open("w") as log:
            worker.append(subprocess.Popen([sys.executable, "-m", "chalicelib.local.worker_loop"], cwd=ROOT,
                                           env=env, stdout=log, stderr=subprocess.STDOUT))
        # after it started: a long poll the killed worker left open in moto would take a message sent sooner
        wait_for(lambda: "started" in (tmp_path / "worker.log").read_text(), what="the new worker started")
        answer = capture(stack, stack["samples"][0])
        # (a receive the killed worker left open may still take the message: it comes back after one lease)
        assert finished(stack, answer["job_id"], timeout=300)["status"] == "succeeded"
        second = subprocess.run([sys.executable, "-m", "chalicelib.local.worker_loop"], cwd=ROOT, env=env,
                                capture_output=True, text=True, timeout=60)
        assert second.returncode == 1 and "already running" in second.stderr
        assert stack["process"].poll() is None
    finally:
        stop_stack(stack)
    worker[0].wait(timeout=30)  # the stack's stop stops the worker it did not start too
    assert not stack_pids(Path(env["PRSNL_LOCAL_DIR"]))


def test_start_that_times_out_leaves_no_process(tmp_path):
    env = stack_env(tmp_path / "stack", PRSNL_START_TIMEOUT_SECONDS="0")
    process = launch(env)
    assert process.wait(timeout=120) == 1
    console = (tmp_path / "stack" / "stack.log").read_text()
    assert "could not start" in console and "did not answer within 0 s" in console
    assert not stack_pids(tmp_path / "stack")


def test_second_stack_on_the_same_ports_says_one_is_running(local_stack, tmp_path):
    same_dir = subprocess.run([sys.executable, "-m", "chalicelib.local.stack"], cwd=ROOT, env=local_stack["env"],
                              capture_output=True, text=True, timeout=60)
    assert same_dir.returncode == 1 and "already running" in same_dir.stdout
    other_dir = {**local_stack["env"], "PRSNL_LOCAL_DIR": str(tmp_path)}
    same_ports = subprocess.run([sys.executable, "-m", "chalicelib.local.stack"], cwd=ROOT, env=other_dir,
                                capture_output=True, text=True, timeout=60)
    assert same_ports.returncode == 1 and "already running" in same_ports.stdout
    assert local_stack["process"].poll() is None
