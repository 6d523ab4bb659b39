"""YouTube: watch pages, Shorts, youtu.be, m./music. hosts, embeds and /live/ links."""

from __future__ import annotations

import re

from chalicelib.platforms.base import Platform

_ID = r"(?P<id>[0-9A-Za-z_-]{11})"
_HOST = r"https?://(?:(?:www|m|music)\.)?youtube(?:-nocookie)?\.com"


class YouTube(Platform):
    name = "youtube"
    label = "YouTube"
    supports = ("video", "shorts")
    HOSTS = re.compile(r"(?:(?:www|m|music)\.)?youtube(?:-nocookie)?\.com|youtu\.be")
    VALID_URLS = (
        re.compile(rf"{_HOST}/(?:watch/?)?\?(?:[^#]*?&)?v={_ID}(?=[&#]|$)"),
        re.compile(rf"{_HOST}/(?:shorts|embed|v|e|live)/{_ID}(?=[/?#&]|$)"),
        re.compile(rf"https?://youtu\.be/{_ID}(?=[/?#&]|$)"),
    )
    request_interval = 1.0

    def canonical(self, match: re.Match) -> str:
        return f"https://www.youtube.com/watch?v={match['id']}"

    def extra_options(self) -> dict:
        return {"noplaylist": True}


YOUTUBE = YouTube()
