"""Files sent to the bot as a platform: fetched by the worker through the Bot API (getFile, then the file URL).

The job keeps only the file_id: the download URL holds the bot token, so it is built here, used
once and never logged or stored. Errors are ours, raised ``from None`` so no URL rides along in
a traceback. The public Bot API serves files up to 20 MB; a self-hosted server lifts that.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING

from chalicelib.errors import PermanentJobError, PrsnlError, TransientJobError
from chalicelib.platforms.base import Resolved

if TYPE_CHECKING:
    from chalicelib.config import Settings

PLATFORM = "telegram"
CHUNK = 256 * 1024


class TelegramFiles:
    """The pipeline's view of a Telegram file as a platform: no link to follow or check, one file, nothing for
    yt-dlp, its own errors. It is not in the detection registry: no link resolves to it."""

    name = PLATFORM
    label = "Telegram file"
    from_link = False

    def ydl_options(self, settings) -> dict:
        return {}

    def classify_error(self, error: BaseException) -> PrsnlError:
        return error if isinstance(error, PrsnlError) else TransientJobError("Telegram did not send the file")

    def to_metadata(self, info: dict) -> dict:
        return {"title": info.get("title"), "platform_id": info.get("id"), "original_url": None}


TELEGRAM = TelegramFiles()


def resolve_file(file_unique_id: str) -> Resolved:
    """A file the bot received, as a capture's source: de-duplicated per owner by Telegram's unique file id."""
    return Resolved(PLATFORM, file_unique_id, f"{PLATFORM}:file/{file_unique_id}")


class TelegramFileDownloader:
    """probe = getFile (is it there, how big); download = stream the file with progress and a byte limit."""

    def __init__(self, file: dict, settings: Settings):
        self._file = file  # {"file_id", "size", "name"} as the bot put it in the job's params
        self._settings = settings
        self._url: str | None = None

    @contextmanager
    def one_job(self) -> Iterator[TelegramFileDownloader]:
        """Nothing kept between a job's calls but the file's URL (on this object, made for the job)."""
        yield self

    def probe(self, url: str, **_ignored) -> dict:
        from telegram.error import BadRequest, TelegramError

        from chalicelib.telegram import bot as telegram_bot  # worker side: detection stays free of boto3 and PTB

        try:
            remote = telegram_bot.run(self._settings, lambda bot: bot.get_file(self._file["file_id"]))
        except BadRequest as exc:
            if "too big" in exc.message.lower():
                raise PermanentJobError("Telegram lets bots fetch files up to 20 MB", code="too_large") from None
            raise PermanentJobError(f"Telegram refused the file: {exc.message}", code="not_found") from None
        except TelegramError as exc:
            raise TransientJobError(f"Telegram did not answer: {telegram_bot.describe(exc)}") from None
        self._url = remote.file_path
        suffix = PurePosixPath(self._file.get("name") or remote.file_path or "").suffix
        return {"id": remote.file_unique_id, "filesize": remote.file_size or self._file.get("size"),
                "title": self._file.get("name"), "ext": suffix.lstrip(".") or "bin"}

    def download(self, info: dict, dest: Path, *, max_bytes: int, on_progress, **_ignored) -> Path:
        import httpx

        target = dest / f"media.{info['ext']}"
        try:
            with httpx.stream("GET", self._url, timeout=30, follow_redirects=False) as response, \
                    target.open("wb") as out:
                if response.status_code != 200:
                    raise _http_error(response.status_code)
                _copy(response, out, total=info.get("filesize"), max_bytes=max_bytes, on_progress=on_progress)
        except httpx.HTTPError as exc:
            raise TransientJobError(f"the file download from Telegram failed ({type(exc).__name__})") from None
        return target


def _copy(response, out, *, total: int | None, max_bytes: int, on_progress) -> None:
    done = 0
    for chunk in response.iter_bytes(CHUNK):
        done += len(chunk)
        if done > max_bytes:
            raise PermanentJobError(f"the file is larger than the limit of {max_bytes} bytes", code="too_large")
        out.write(chunk)
        on_progress("downloading", bytes=done, total=total, percent=round(100 * done / total, 1) if total else None)


def _http_error(status: int) -> PrsnlError:
    if status >= 500 or status == 429:
        return TransientJobError(f"Telegram answered {status} for the file")
    return PermanentJobError(f"Telegram answered {status} for the file", code="not_found")
