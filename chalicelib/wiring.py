"""Composition root: the one place that picks the adapters; entry points call ``services()``.

Heavy adapters (yt-dlp downloader, Telegram) are imported on first use only, so the API's cold
start never pays for them. Tests swap adapters with ``override(...)``, never by patching modules.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from functools import cached_property

from chalicelib.config import Settings, get_settings
from chalicelib.queue import SqsJobQueue
from chalicelib.records.models import bind_tables
from chalicelib.storage.s3 import S3Storage


class SystemClock:
    def now(self) -> datetime:
        return datetime.now(UTC)

    def new_id(self) -> str:
        return str(uuid.uuid4())


class Services:
    def __init__(self, settings: Settings, **overrides):
        self.settings = settings
        self.storage = S3Storage(settings.bucket)
        self.queue = SqsJobQueue(settings.jobs_queue, settings.jobs_queue_url)
        self.clock = SystemClock()
        self.__dict__.update(overrides)

    @cached_property
    def slots(self):
        from chalicelib.pipeline.slots import StepSlots

        return StepSlots.of(io=self.settings.download_concurrency, cpu=self.settings.cpu_concurrency)

    @cached_property
    def downloader(self):
        from chalicelib.media.download import YtDlpDownloader

        return YtDlpDownloader()

    def downloader_for(self, video, job):
        """Where a capture's media comes from: a file sent to the bot (Telegram's file API), else its link (yt-dlp)."""
        from chalicelib.platforms import telegram

        if video.platform == telegram.PLATFORM:
            return telegram.TelegramFileDownloader(job.params["telegram"]["file"], self.settings)
        return self.downloader

    @cached_property
    def notifier(self):
        """Telegram replies follow the jobs the bot queued; without a bot configured, nobody is told."""
        from chalicelib.telegram.notifier import NullNotifier, TelegramNotifier, configured

        return TelegramNotifier(self.settings) if configured(self.settings) else NullNotifier()


_services: Services | None = None
_overrides: dict = {}


def services() -> Services:
    global _services
    if _services is None:
        settings = get_settings()
        bind_tables(settings)
        _services = Services(settings, **_overrides)
    return _services


def override(**adapters) -> None:
    """Replace adapters (tests): ``override(downloader=FakeDownloader())``."""
    _overrides.update(adapters)
    reset(keep_overrides=True)


def reset(*, keep_overrides: bool = False) -> None:
    global _services
    _services = None
    if not keep_overrides:
        _overrides.clear()
