"""Which platform a link belongs to, and the module that handles it (in the spirit of yt-dlp's extractors).

Detection is pure and imports no yt-dlp: the API resolves links on its cold path.
The registry is ordered: the first platform that claims the link wins; direct files, then any
web page, come last. Files sent to the bot are a platform too (``telegram``), outside the registry.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from chalicelib.errors import UnsupportedUrlError
from chalicelib.platforms.base import Platform, Resolved
from chalicelib.platforms.direct import DIRECT
from chalicelib.platforms.generic import GENERIC
from chalicelib.platforms.instagram import INSTAGRAM
from chalicelib.platforms.telegram import TELEGRAM
from chalicelib.platforms.tiktok import TIKTOK
from chalicelib.platforms.twitter import TWITTER
from chalicelib.platforms.youtube import YOUTUBE

PLATFORMS: tuple[Platform, ...] = (YOUTUBE, TWITTER, TIKTOK, INSTAGRAM, DIRECT, GENERIC)

__all__ = ["PLATFORMS", "Platform", "Resolved", "get_platform", "resolve"]


def resolve(url: str) -> Resolved:
    """The platform, its id and the canonical URL of a link; raises UnsupportedUrlError when unusable."""
    url, host = _normalized(url.strip())
    return next(resolved for platform in PLATFORMS if (resolved := platform.resolve(url, host)))


def get_platform(name: str) -> Platform:
    """A platform by name: one of the registry, or the bot's files (which no link resolves to)."""
    for platform in (*PLATFORMS, TELEGRAM):
        if platform.name == name:
            return platform
    raise KeyError(name)


def _normalized(url: str) -> tuple[str, str]:
    """The link with its scheme and host in lower case, and its host; refuses what is not http(s)."""
    try:
        parts = urlsplit(url)
        host = parts.hostname or ""
        parts.port  # noqa: B018 - raises ValueError on a malformed port
    except ValueError as exc:
        raise UnsupportedUrlError("This link is malformed") from exc
    if parts.scheme.lower() not in ("http", "https") or not host or any(c.isspace() for c in url):
        raise UnsupportedUrlError("Only http:// and https:// links to a web page or a video can be saved")
    prefix = f"{parts.scheme}://{parts.netloc}"
    return prefix.lower() + url[len(prefix) :], host.rstrip(".")
