"""Any other web page: yt-dlp's own site extractors (Vimeo, Reddit...) or its generic page reader.

Whether a page holds a video is only known by fetching it, so every http(s) link lands here and
the worker's probe answers ``unsupported_url`` when yt-dlp finds nothing.
"""

from __future__ import annotations

from chalicelib.platforms.base import Platform, Resolved, strip_tracking


class Generic(Platform):
    name = "generic"
    label = "web page"
    supports = ("video", "multi_video")

    def resolve(self, url: str, host: str) -> Resolved | None:
        return Resolved(self.name, None, strip_tracking(url))

    def platform_id_of(self, info: dict) -> str | None:
        """A page has no id of ours: it is de-duplicated by its canonical URL."""
        return None


GENERIC = Generic()
