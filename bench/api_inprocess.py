"""Our own code per API route, in process (issue 19): the real Chalice app through chalice's test client, with
every AWS answer replayed from a recording, so neither moto nor a network is measured.

A first pass runs each route against in-process moto and records botocore's HTTP answers (status, headers,
body) keyed by the request (method, URL path and query, body); the replay pass answers each request from that
recording in a ``before-send`` handler, ahead of moto's (whose mock is stopped), so botocore still serialises
every request and parses every answer, and PynamoDB, Chalice and our code run as in Lambda. Each call's CPU time
is split in two: inside the AWS SDK (botocore's ``_make_api_call``: serialise, sign, send the replayed answer,
parse; and a presigned link's signing) and the rest, ours (Chalice's routing, Powertools, PynamoDB's models, our
handlers). Goal: ours <= 2 ms per one-record route (median).
Run: ``.venv/bin/python bench/api_inprocess.py [--requests N]``.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
GOAL_MS = 2.0
ONE_RECORD = ("video", "metadata", "stream 302", "thumbnail", "job")


class Recording:
    """botocore's HTTP answers by request, recorded then replayed (any request not recorded is an error)."""

    def __init__(self):
        self.answers: dict[tuple, tuple] = {}
        self.replaying = False

    @staticmethod
    def key(request) -> tuple:
        body = request.body if isinstance(request.body, bytes) else (request.body or "").encode()
        return request.method, request.url.split("://", 1)[1].split("/", 1)[-1], body

    def install(self) -> None:
        """At botocore's HTTP step, for every client of every session: the answer (moto's, while recording) is
        kept; while replaying, the kept answer is sent back instead of a request."""
        from botocore import endpoint
        from botocore.awsrequest import AWSResponse

        get_response = endpoint.Endpoint._do_get_response

        def recorded(endpoint_, request, operation_model, context):
            result = get_response(endpoint_, request, operation_model, context)
            if not self.replaying and result[0] is not None:
                http = result[0][0]
                self.answers[self.key(request)] = (http.status_code, dict(http.headers), http.content)
            return result

        def replayed(endpoint_, request):
            status, headers, body = self.answers[self.key(request)]
            return AWSResponse(request.url, status, headers, _Raw(body))

        endpoint.Endpoint._do_get_response = recorded
        endpoint.Endpoint._send = replayed  # reached only when no mock answers: after the recording


class SdkClock:
    """CPU time spent inside botocore (every client's API calls, and the signing of presigned links), to tell the
    SDK's share from ours."""

    def __init__(self):
        self.seconds = 0.0

    def install(self) -> None:
        from botocore.client import BaseClient

        from chalicelib import aws

        BaseClient._make_api_call = self._timed(BaseClient._make_api_call)
        s3 = type(aws.client("s3"))  # the class botocore made for S3 holds the presigning function it was given
        s3.generate_presigned_url = self._timed(s3.generate_presigned_url)

    def _timed(self, method):
        def timed(*args, **kwargs):
            started = time.process_time()
            try:
                return method(*args, **kwargs)
            finally:
                self.seconds += time.process_time() - started

        return timed


class _Raw:
    """A recorded body as urllib3's response would stream it."""

    def __init__(self, body: bytes):
        self._body = body

    def stream(self, **_kwargs):
        yield self._body

    def read(self, *_args):
        body, self._body = self._body, b""
        return body


def routes(video_id: str, job_id: str) -> list[tuple[str, str]]:
    return [("video", f"/api/videos/{video_id}"), ("metadata", f"/api/videos/{video_id}/metadata"),
            ("stream 302", f"/api/videos/{video_id}/stream"), ("thumbnail", f"/api/videos/{video_id}/thumbnail"),
            ("job", f"/api/jobs/{job_id}"), ("list", "/api/videos?limit=20"), ("stats", "/api/storage/stats"),
            ("platforms", "/api/platforms")]


def seed() -> tuple[str, str, str]:
    """The local user with a key and one ready video with its job, through our record modules."""
    from datetime import UTC, datetime

    from chalicelib import wiring
    from chalicelib.records import apikeys, jobs, quotas, users, videos
    from chalicelib.records.models import Video
    from chalicelib.storage import layout

    services, now = wiring.services(), datetime(2026, 12, 1, tzinfo=UTC)
    users.create_user("bench", name="Bench", quota_bytes=10**10, now=now)
    key = apikeys.issue_key("bench", now=now)
    video_id, job_id = services.clock.new_id(), services.clock.new_id()
    sizes = {layout.video_key(video_id, now): 5_000_000,
             **{layout.thumbnail_key(video_id, now, s): 20_000 for s in layout.THUMBNAIL_SIZES}}
    Video(video_id, owner_id="bench", created_at=now, updated_at=now, status=videos.READY,
          source_url="https://example.com/v", canonical_url="https://example.com/v",
          owner_source=videos.owner_source("bench", "url:v"), platform="direct", job_id=job_id, title="Bench",
          duration=60.0, width=1280, height=720, fps=30.0, codec="h264", audio_codec="aac",
          filesize=5_000_000, file_key=layout.video_key(video_id, now), bytes_stored=sum(sizes.values()),
          object_sizes=sizes, thumbnails={s: layout.thumbnail_key(video_id, now, s) for s in layout.THUMBNAIL_SIZES},
          ).save()
    job = jobs.new_job(job_id, video_id=video_id, owner_id="bench", kind="capture", now=now)
    job.status = jobs.SUCCEEDED
    job.save()
    quotas.settle("bench", reserved=0, actual=sum(sizes.values()), usage=quotas.Usage.of(Video.get(video_id), sizes))
    return key, video_id, job_id


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[int(fraction * (len(ordered) - 1))]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=300, help="calls per route in the replay pass")
    args = parser.parse_args()
    os.environ.update(AWS_ACCESS_KEY_ID="testing", AWS_SECRET_ACCESS_KEY="testing", AWS_DEFAULT_REGION="us-east-1",
                      PRSNL_STAGE="local", POWERTOOLS_SERVICE_NAME="prsnl-bench", PRSNL_WATCH_SECRET="bench")
    os.environ.pop("AWS_ENDPOINT_URL", None)
    from chalice.test import Client
    from moto import mock_aws

    from app import app
    from chalicelib.config import get_settings
    from chalicelib.local.bootstrap import bootstrap

    recording = Recording()
    recording.install()
    with mock_aws():
        bootstrap(get_settings())
        key, video_id, job_id = seed()
        headers = {"Authorization": f"Bearer {key}"}
        with Client(app, stage_name="local") as client:
            for _name, path in routes(video_id, job_id):
                assert client.http.get(path, headers=headers).status_code < 400, path
    recording.replaying = True
    sdk = SdkClock()
    sdk.install()
    print(f"{len(recording.answers)} AWS answers recorded; {args.requests} calls per route, replayed; "
          "CPU ms per call\n")
    print(f"{'route':<12}{'total':>8}{'AWS SDK':>9}{'ours':>7}{'ours p95':>10}  goal (ours, median)")
    with Client(app, stage_name="local") as client:
        for name, path in routes(video_id, job_id):
            totals, sdks = [], []
            for _ in range(args.requests):
                started, in_sdk = time.process_time(), sdk.seconds  # CPU time: waits for a core are not ours
                status = client.http.get(path, headers=headers).status_code
                totals.append(1000 * (time.process_time() - started))
                sdks.append(1000 * (sdk.seconds - in_sdk))
                assert status < 400, (path, status)
            ours = [total - in_sdk for total, in_sdk in zip(totals, sdks, strict=True)]
            mine = statistics.median(ours)
            goal = f"<= {GOAL_MS} ms: {'met' if mine <= GOAL_MS else 'MISSED'}" if name in ONE_RECORD else ""
            print(f"{name:<12}{statistics.median(totals):>8.2f}{statistics.median(sdks):>9.2f}{mine:>7.2f}"
                  f"{percentile(ours, 0.95):>10.2f}  {goal}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
