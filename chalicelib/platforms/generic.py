"""Any other web page: yt-dlp's own site extractors (Vimeo, Reddit...) or its generic page reader.

Whether a page holds a video is only known by fetching it, so every http(s) link lands here and
the worker's probe answers ``unsupported_url`` when yt-dlp finds nothing.
"""

from __future__ import annotations

import re

from chalicelib.platforms.base import Platform, Resolved, strip_tracking

# yt-dlp numbers the videos it finds in a page, also when there is only one: "Page title (1)".
_ONLY_ENTRY = re.compile(r"\s+\(1\)$")


class Generic(Platform):
    name = "generic"
    label = "web page"
    supports = ("video", "multi_video")
    error_rules = ()  # a page's 401/403 says nothing about a login we could give
    fixed_hosts = False  # the user chose the host: it is checked before anything is fetched
    keeps_audio = True  # a podcast episode, an MP3 or M4A file, a page with an <audio>: kept as audio

    def to_metadata(self, info: dict) -> dict:
        meta = super().to_metadata(info)
        if meta["title"] and info.get("playlist_index") is None:
            meta["title"] = _ONLY_ENTRY.sub("", meta["title"])
        return meta

    def resolve(self, url: str, host: str) -> Resolved | None:
        return Resolved(self.name, None, strip_tracking(url))

    def platform_id_of(self, info: dict) -> str | None:
        """A page has no id of ours: it is de-duplicated by its canonical URL."""
        return None


GENERIC = Generic()
