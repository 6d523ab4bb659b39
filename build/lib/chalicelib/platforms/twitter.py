"""X/Twitter: statuses on x.com, twitter.com, mobile. hosts and fx/vx mirrors; t.co short links.

A post may hold several videos (yt-dlp gives a playlist, one entry per video) and GIFs, which X
serves as silent looping MP4s under ``/tweet_video/``. Photos are not offered by yt-dlp.
"""

from __future__ import annotations

import re

from chalicelib.platforms.base import Platform

# Hosts that serve the same statuses under the same paths (link-preview mirrors).
MIRRORS = r"(?:[a-z]\.)?(?:fxtwitter|vxtwitter|fixupx|fixvx|twittpr)\.com"
_HOST = rf"https?://(?:(?:www|m(?:obile)?)\.)?(?:twitter|x)\.com|https?://{MIRRORS}"


class Twitter(Platform):
    name = "twitter"
    label = "X"
    supports = ("video", "multi_video", "gif")
    HOSTS = re.compile(rf"(?:(?:www|m(?:obile)?)\.)?(?:twitter|x)\.com|{MIRRORS}|t\.co")
    VALID_URLS = (
        re.compile(rf"(?:{_HOST})/(?:(?:i/web|[^/?#]+)/status(?:es)?|statuses)/(?P<id>\d+)"),
        re.compile(rf"(?:{_HOST})/i/(?:cards/tfw/v1|videos(?:/tweet)?)/(?P<id>\d+)"),
    )
    SHORT_URLS = (re.compile(r"https?://t\.co/\w+"),)
    request_interval = 0.5

    def canonical(self, match: re.Match) -> str:
        return f"https://x.com/i/status/{match['id']}"

    def platform_id_of(self, info: dict) -> str | None:
        """Each video of a post carries its media id; the post's id is ``display_id``."""
        return info.get("display_id") or info.get("id")

    def video_item(self, item: dict) -> dict:
        gif = any("/tweet_video/" in (f.get("url") or "") for f in item.get("formats") or [item])
        return {**item, "kind": "video", "gif": gif}


TWITTER = Twitter()
