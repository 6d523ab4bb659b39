"""TikTok: /@user/video/ID and /@user/photo/ID, embeds; vm./vt./tiktok.com/t short links.

Photo posts (slideshows): yt-dlp reads them from the /video/ URL but offers only their sound and
the cover picture (it declines to extract the slides: yt-dlp issue 6217), so they are kept as
their image, never as audio.
"""

from __future__ import annotations

import re

from chalicelib.platforms.base import Platform

_HOST = r"https?://(?:(?:www|m)\.)?tiktokv?\.com"


class TikTok(Platform):
    name = "tiktok"
    label = "TikTok"
    supports = ("video", "images")
    HOSTS = re.compile(r"(?:(?:www|m|vm|vt)\.)?tiktokv?\.com")
    VALID_URLS = (
        re.compile(rf"{_HOST}/@(?P<user>[\w.-]*)/(?:video|photo)/(?P<id>\d+)"),
        re.compile(rf"{_HOST}/(?:embed(?:/v2)?|share/video|v)/(?P<id>\d+)"),
    )
    SHORT_URLS = (re.compile(r"https?://(?:(?:vm|vt)\.tiktok\.com|(?:www\.)?tiktok\.com/t)/\w+"),)
    request_interval = 1.0
    error_rules = ((r"IP address is blocked", "geo_blocked"), *Platform.error_rules)

    def canonical(self, match: re.Match) -> str:
        """The /video/ form, which yt-dlp reads for photo posts too; the user part is optional."""
        user = match.groupdict().get("user") or ""
        return f"https://www.tiktok.com/@{user}/video/{match['id']}"


TIKTOK = TikTok()
