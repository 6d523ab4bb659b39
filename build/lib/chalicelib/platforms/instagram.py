"""Instagram: posts (/p/), reels (/reel/, /reels/) and IGTV (/tv/); /share/ short links.

A carousel is a yt-dlp playlist: its video entries have formats, its pictures have none (only
thumbnails), so yt-dlp must be told not to fail on them (``ignore_no_formats_error``).
"""

from __future__ import annotations

import re

from chalicelib.platforms.base import Platform


class Instagram(Platform):
    name = "instagram"
    label = "Instagram"
    supports = ("video", "multi_video", "images")
    HOSTS = re.compile(r"(?:(?:www|m)\.)?instagram\.com|instagr\.am")
    VALID_URLS = (
        re.compile(
            r"https?://(?:(?:www|m)\.)?(?:instagram\.com|instagr\.am)"
            r"(?:/(?!share/)[^/?#]+)?/(?:p|tv|reels?)/(?P<id>[\w-]+)"
        ),
    )
    SHORT_URLS = (re.compile(r"https?://(?:www\.)?instagram\.com/share/(?:p/|reels?/)?\w+"),)
    request_interval = 2.0

    def canonical(self, match: re.Match) -> str:
        return f"https://www.instagram.com/p/{match['id']}/"

    def extra_options(self) -> dict:
        return {"ignore_no_formats_error": True}


INSTAGRAM = Instagram()
