"""Test doubles for the ports (STYLE.md: ``Fake<Role>``/``Recording<Role>``), each as thin as the port allows."""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from pathlib import Path

from chalicelib.media.download import YtDlpDownloader
from chalicelib.wiring import SystemClock

FIXTURES = Path(__file__).parent / "fixtures" / "platforms"


def recorded(name: str, media: str) -> dict:
    """A recorded yt-dlp info dict (tests/fixtures/platforms) whose media URLs start with ``media``."""
    return json.loads((FIXTURES / f"{name}.json").read_text().replace("{media}", media))


class RecordedDownloader(YtDlpDownloader):
    """The real downloader, except where the platforms cannot be reached offline: the extraction of a known link
    answers with its recorded info dict (yt-dlp still chooses the formats), and a known short link starts its
    redirects at a recorded first hop. Downloads are real, from ``media`` (the loopback media server)."""

    def __init__(self, media: str, recordings: dict[str, str], redirects: dict[str, str] | None = None,
                 additions: dict | None = None):
        self.media = media
        self.recordings = recordings
        self.redirects = redirects or {}
        self.additions = additions or {}  # fields laid over every recording (a platform's captions)

    def _extract(self, ydl, url: str) -> dict:
        if url not in self.recordings:
            return super()._extract(ydl, url)
        return ydl.process_ie_result({**recorded(self.recordings[url], self.media), **self.additions},
                                     download=False)

    def follow_redirects(self, url: str, **kwargs) -> str:
        return super().follow_redirects(self.redirects.get(url, url), **kwargs)


class FailingDownloader(YtDlpDownloader):
    """The real downloader whose extraction fails as given: a yt-dlp error a platform answered with (classified by
    the real code), or an exception of ours that no one expected."""

    def __init__(self, failure: BaseException):
        self.failure = failure
        self.probes = 0

    def _extract(self, ydl, url: str) -> dict:
        self.probes += 1
        raise self.failure


class FakeClock(SystemClock):
    """The clock a test sets: stopped ``at`` a moment, or the real time moved ``later`` (a sweep run hours after
    the seeding); ids stay real."""

    def __init__(self, at: datetime | None = None, *, later: timedelta = timedelta()):
        self.at, self.later = at, later

    def now(self) -> datetime:
        return self.at if self.at is not None else super().now() + self.later


class FakeDownloader:
    """The downloader port without a network: ``probe`` answers with a given info dict (as a platform described the
    link), ``follow_redirects`` with the link a short link leads to. For the pipeline's rules (no moto, no ffmpeg)."""

    def __init__(self, info: dict | None = None, redirects: dict[str, str] | None = None):
        self.info = info or {}
        self.redirects = redirects or {}
        self.probed: list[str] = []

    def probe(self, url: str, **_options) -> dict:
        self.probed.append(url)
        return self.info

    def follow_redirects(self, url: str, **_options) -> str:
        return self.redirects.get(url, url)


class WorkerDied(BaseException):
    """The worker's process ends here: none of its except clauses runs."""


def die_at_a_dynamodb_write(matches, *, applied: bool = False) -> None:
    """The worker dies at the first DynamoDB write (an update, a put or a transaction) whose parameters, as JSON,
    ``matches`` accepts: as it sends it, or once DynamoDB ``applied`` it. Hooked into botocore, below our code."""
    writes, seen = ("UpdateItem", "PutItem", "TransactWriteItems"), []

    def before(params, event_name, **_):
        if not seen and event_name.rsplit(".", 1)[-1] in writes and matches(json.dumps(params, default=str)):
            seen.append(event_name)
            if not applied:
                raise WorkerDied(event_name)

    def after(event_name, **_):
        if len(seen) == 1 and seen[0].rsplit(".", 1)[-1] == event_name.rsplit(".", 1)[-1]:
            seen.append(event_name)
            raise WorkerDied(event_name)

    for client in dynamodb_clients():
        client.meta.events.register("before-parameter-build.dynamodb", before)
        if applied:
            client.meta.events.register("after-call.dynamodb", after)


def dynamodb_clients() -> list:
    """The botocore clients our records use (the models may share one), to hook DynamoDB calls below our code."""
    from chalicelib.records.models import ALL_MODELS

    clients = {id(client): client for client in (model._get_connection().connection.client for model in ALL_MODELS)}
    return list(clients.values())
