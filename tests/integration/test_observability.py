"""Metrics, logs and traces of real captures: the EMF lines the API, the worker and the bot print, the
correlation id that follows one capture, secrets kept out of log lines, and the tracer kept out of the
API's cold start. Real app, real worker handler, real yt-dlp and ffmpeg against the loopback server."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from chalicelib import observability
from chalicelib.ops import metrics
from chalicelib.records.models import Video
from chalicelib.records.users import get_user
from tests.conftest import TELEGRAM_USER, WEBHOOK_SECRET

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(autouse=True)
def loopback_allowed(settings_env):
    settings_env(PRSNL_ALLOW_LOOPBACK_URLS="true")


def emf_points(text: str) -> list[dict]:
    """Each EMF line as {name, unit, value, dimension sets, dimension values}."""
    points = []
    for line in text.splitlines():
        if not line.startswith('{"_aws"'):
            continue
        data = json.loads(line)
        [directive] = data["_aws"]["CloudWatchMetrics"]
        [metric] = directive["Metrics"]
        points.append({"name": metric["Name"], "unit": metric["Unit"], "value": data[metric["Name"]][0],
                       "namespace": directive["Namespace"], "sets": directive["Dimensions"],
                       "dims": {key: data[key] for dims in directive["Dimensions"] for key in dims}})
    return points


def named(points: list[dict], name: str) -> list[dict]:
    return [p for p in points if p["name"] == name]


def capture(client, user, url: str):
    response = client.http.post("/api/capture", headers=user.headers, body=json.dumps({"url": url}))
    assert response.status_code in (200, 202), response.body
    return response


def test_each_metric_of_a_capture_is_one_emf_line_with_its_dimensions(client, user, drain, media_server, media_dir,
                                                                       capsys):
    # GIVEN a served H.264 clip, captured through the API and run by the worker handler
    capsys.readouterr()
    body = capture(client, user, media_server.url("files", "clip.mp4")).json_body
    assert drain() == 1
    capture(client, user, media_server.url("files", "clip.mp4"))  # the same link again
    # WHEN the printed lines are read as EMF
    points = emf_points(capsys.readouterr().out)
    # THEN every data point is in our namespace, carries (service, stage) and its spec's breakdown
    specs = {spec.name: spec for spec in metrics.METRICS}
    for point in points:
        spec = specs[point["name"]]
        assert point["namespace"] == metrics.NAMESPACE and point["unit"] == spec.unit
        assert point["sets"][0] == ["service", "stage"] and point["dims"]["stage"] == "local"
        assert point["sets"][1:] == ([["service", "stage", *spec.dimensions]] if spec.dimensions else [])
    # AND the capture's figures are those of the stored video
    video = Video.get(body["video_id"])
    platform = video.platform
    requested = named(points, "CapturesRequested")
    assert [(p["dims"]["outcome"], p["dims"]["platform"], p["dims"]["source"]) for p in requested] == [
        ("queued", platform, "api"), ("existing", platform, "api")]
    [waited] = named(points, "QueueWaitSeconds")
    assert 0 <= waited["value"] < 60
    [succeeded] = named(points, "DownloadsSucceeded")
    assert succeeded["value"] == 1 and succeeded["dims"]["platform"] == platform
    [downloaded] = named(points, "DownloadBytes")
    assert downloaded["value"] == (media_dir / "clip.mp4").stat().st_size
    [seconds] = named(points, "DownloadSeconds")
    assert 0 < seconds["value"] < 30
    assert {p["dims"]["kind"] for p in named(points, "ProcessingSeconds")} == {"remux", "thumbnails"}
    [stored] = named(points, "BytesStored")
    assert stored["value"] == video.bytes_stored > 0
    assert not named(points, "DownloadsFailed") and not named(points, "JobsRetried")


def test_failures_are_counted_by_code_retries_and_exhausted_retries(user, drain, media_server, settings_env, capsys,
                                                                client):
    # GIVEN two attempts per job, a link that always answers 503 and a file over the size limit
    settings_env(PRSNL_MAX_ATTEMPTS="2", PRSNL_MAX_VIDEO_BYTES="1000")
    capsys.readouterr()
    capture(client, user, media_server.url("fail", "clip.mp4"))
    capture(client, user, media_server.url("files", "clip.webm"))
    # WHEN the worker runs them until nothing is left
    drain()
    points = emf_points(capsys.readouterr().out)
    # THEN the transient one was retried once, then failed on its last attempt (its retries exhausted)
    [retried] = named(points, "JobsRetried")
    assert retried["dims"]["code"] == "transient"
    [dead] = named(points, "RetriesExhausted")
    assert dead["dims"]["code"] == "transient"
    # AND both failures are counted by platform and code, none as a success
    assert sorted(p["dims"]["code"] for p in named(points, "DownloadsFailed")) == ["too_large", "transient"]
    assert not named(points, "DownloadsSucceeded")


def test_telegram_updates_handled_and_refused_are_counted(client, mocked_aws, telegram, capsys):
    from tests.fake_telegram import text_update

    capsys.readouterr()
    headers = {"Content-Type": "application/json", "X-Telegram-Bot-Api-Secret-Token": WEBHOOK_SECRET}
    # GIVEN an update with a wrong secret, one from a stranger, and a command from the whitelisted user
    wrong = {**headers, "X-Telegram-Bot-Api-Secret-Token": "not-the-secret"}
    assert client.http.post("/telegram/webhook", headers=wrong, body=json.dumps(text_update(1, 5, "hi"))
                            ).status_code == 403
    for update in (text_update(2, 999, "/help"), text_update(3, TELEGRAM_USER, "/help")):
        assert client.http.post("/telegram/webhook", headers=headers, body=json.dumps(update)).status_code == 200
    points = emf_points(capsys.readouterr().out)
    # THEN two refusals by reason and one handled command
    assert sorted(p["dims"]["code"] for p in named(points, "TelegramUpdatesRefused")) == [
        "user_not_allowed", "wrong_secret_token"]
    assert [p["dims"]["kind"] for p in named(points, "TelegramUpdatesHandled")] == ["command"]


def test_correlation_id_follows_a_capture_from_the_api_through_the_worker(client, user, drain, media_server,
                                                                          app_logs):
    # WHEN a link is captured through the API and the worker runs it
    response = capture(client, user, media_server.url("files", "clip.mp4"))
    correlation_id = response.headers["X-Correlation-Id"]
    api_lines = len(app_logs.lines)
    drain()
    # THEN the API's and the worker's log lines of that capture carry the id the API answered with
    records = app_logs.records()
    api, worker = records[:api_lines], records[api_lines:]
    assert [r["message"] for r in api if r.get("correlation_id") == correlation_id] == ["capture requested"]
    finished = [r for r in worker if r["message"] == "capture finished"]
    assert [r.get("correlation_id") for r in finished] == [correlation_id]
    assert finished[0]["job_id"] == response.json_body["job_id"] and finished[0]["outcome"] == "succeeded"
    assert all(r["service"] and r["level"] for r in records)


def test_correlation_id_follows_a_bot_capture_into_the_worker(client, mocked_aws, telegram, drain, media_server,
                                                              app_logs):
    from tests.fake_telegram import text_update

    # WHEN the bot receives a link and the worker runs the capture
    update = text_update(41, TELEGRAM_USER, media_server.url("files", "clip.mp4"))
    headers = {"Content-Type": "application/json", "X-Telegram-Bot-Api-Secret-Token": WEBHOOK_SECRET}
    assert client.http.post("/telegram/webhook", headers=headers, body=json.dumps(update)).status_code == 200
    bot_lines = len(app_logs.lines)
    drain()
    # THEN the bot's line and the worker's lines carry the update's id
    records = app_logs.records()
    assert [r["message"] for r in records[:bot_lines] if r.get("correlation_id") == "telegram-41"] == [
        "capture requested"]
    assert [r["outcome"] for r in records[bot_lines:] if r["message"] == "capture finished"
            and r.get("correlation_id") == "telegram-41"] == ["succeeded"]


def test_the_daily_snapshot_emits_the_bytes_held(client, user, drain, media_server, capsys):
    # GIVEN a stored capture
    capture(client, user, media_server.url("files", "clip.mp4"))
    drain()
    # WHEN EventBridge invokes the daily snapshot
    capsys.readouterr()
    event = client.events.generate_cw_event(source="aws.events", detail_type="Scheduled Event", detail={},
                                            resources=["arn:aws:events:us-east-1:000000000000:rule/daily"])
    client.lambda_.invoke("take_storage_snapshot", event)
    # THEN the gauge the storage alarm reads is the bytes every user holds
    [held] = named(emf_points(capsys.readouterr().out), metrics.STORAGE_METRIC)
    assert held["value"] == get_user(user.user_id).bytes_used > 0


SECRETS = {
    "api key": "prsnl_" + "k" * 43,
    "bot token": "123456789:AAHfiqksKZ8WmR2zSjiQ7_v4TMAKdiHm9T0",
    "cookie": "SID=31d4d96e407aad42; HSID=AYQEVnDKrdst",
}


def test_no_secret_reaches_a_log_line(app_logs):
    # GIVEN messages, extra fields and an exception that hold an API key, a bot token and cookies
    token, key, cookie = SECRETS["bot token"], SECRETS["api key"], SECRETS["cookie"]
    observability.logger.info(f"calling https://api.telegram.org/bot{token}/getMe with Bearer {key}")
    observability.logger.info("request", extra={"headers": {"Authorization": f"Bearer {key}", "Cookie": cookie},
                                                "token": token, "cookies": cookie})
    observability.logger.warning(f"yt-dlp sent Cookie: {cookie}")
    try:
        raise RuntimeError(f"POST https://api.telegram.org/bot{token}/sendMessage failed")
    except RuntimeError:
        observability.logger.exception("telegram failed")
    # THEN no line holds any of them, each was masked, and the lines are still JSON
    text = "\n".join(app_logs.lines)
    for name, secret in SECRETS.items():
        assert secret not in text, name
        for part in secret.split("; "):
            assert part.split("=")[-1] not in text, name
    assert text.count(observability.REDACTED) >= 7
    records = app_logs.records()
    assert records[0]["message"].startswith("calling https://api.telegram.org/bot123456789:[REDACTED]/getMe")
    assert records[1]["headers"] == {"Authorization": "[REDACTED]", "Cookie": "[REDACTED]"}
    assert "exception" in records[-1]


def test_emit_refuses_dimensions_its_spec_does_not_name():
    with pytest.raises(ValueError, match="DownloadsFailed"):
        metrics.emit(metrics.DOWNLOADS_FAILED, 1, platform="youtube")


TRACE_PROBE = textwrap.dedent("""
    import json, sys
    from moto import mock_aws
    from chalice.test import Client
    from app import app
    from chalicelib.config import get_settings
    from chalicelib.local.bootstrap import bootstrap

    imported_with_app = "aws_xray_sdk" in sys.modules
    with mock_aws():
        bootstrap(get_settings())
        with Client(app, stage_name="local") as client:
            status = client.http.get("/api/health").status_code
    print(json.dumps({"with_app": imported_with_app, "status": status, "after": "aws_xray_sdk" in sys.modules}))
""")


def received_segments(daemon: socket.socket) -> list[tuple[str, str]]:
    """(name, namespace) of every segment and subsegment the fake X-Ray daemon received."""
    found = []

    def walk(entity: dict) -> None:
        found.append((entity["name"], entity.get("namespace")))
        for sub in entity.get("subsegments", []):
            walk(sub)

    daemon.settimeout(0.5)
    try:
        while True:
            walk(json.loads(daemon.recv(65535).decode().split("\n", 1)[1]))
    except TimeoutError:
        return found


@pytest.mark.parametrize("tracing", ["false", "true"])
def test_tracer_loads_only_when_tracing_is_on_and_then_traces_aws_calls(tracing):
    # GIVEN a fresh API process as Lambda runs it (a trace id, an X-Ray daemon: a UDP socket here)
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as daemon:
        daemon.bind(("127.0.0.1", 0))
        env = {"PATH": "/usr/bin:/bin", "AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
               "AWS_DEFAULT_REGION": "us-east-1", "PRSNL_STAGE": "local", "PRSNL_TRACING": tracing,
               "LAMBDA_TASK_ROOT": str(ROOT), "AWS_LAMBDA_FUNCTION_NAME": "prsnl-api-test",
               "_X_AMZN_TRACE_ID": "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1",
               "AWS_XRAY_DAEMON_ADDRESS": f"127.0.0.1:{daemon.getsockname()[1]}"}
        # WHEN it imports the app and answers one request
        done = subprocess.run([sys.executable, "-c", TRACE_PROBE], cwd=ROOT, env=env, capture_output=True,
                              text=True, timeout=120)
        assert done.returncode == 0, done.stderr[-2000:]
        result = json.loads(done.stdout.strip().splitlines()[-1])
        segments = received_segments(daemon)
    # THEN the X-Ray SDK is never part of the app's import
    assert result["with_app"] is False and result["status"] == 200
    # AND only with tracing on was it loaded, and each AWS call of the request reached the daemon as a subsegment
    assert result["after"] is (tracing == "true")
    expected = {("s3", "aws"), ("dynamodb", "aws"), ("sqs", "aws")} if tracing == "true" else set()
    assert {segment for segment in segments if segment[1] == "aws"} == expected


def test_log_keys_of_one_job_never_show_on_another_jobs_lines(user, media_server, app_logs, settings_env):
    from concurrent.futures import ThreadPoolExecutor

    from chalicelib import capture as capture_service
    from chalicelib import wiring
    from chalicelib.local import worker_loop

    # GIVEN four captures that the local worker loop runs at the same time, in threads of one process
    settings_env(PRSNL_ALLOW_LOOPBACK_URLS="true")
    services = wiring.services()
    results = [capture_service.capture(media_server.url("files", f"clip.mp4?n={n}"), owner_id=user.user_id,
                                       services=services) for n in range(4)]
    messages, arn = services.queue.receive(max_messages=10, wait_seconds=0), worker_loop.queue_arn(services.queue)
    with ThreadPoolExecutor(max_workers=4) as pool:
        list(pool.map(lambda message: worker_loop.run_batch(services.queue, arn, [message]), messages))
    # THEN every line that names a job names that job's own video
    video_of = {result.job.job_id: result.video.video_id for result in results}
    lines = [r for r in app_logs.records() if r.get("job_id") in video_of and "video_id" in r]
    assert {r["job_id"] for r in lines} == set(video_of)
    assert [r for r in lines if r["video_id"] != video_of[r["job_id"]]] == []
