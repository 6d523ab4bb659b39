"""X/Twitter: statuses on x.com, twitter.com, mobile. hosts and fx/vx mirrors; t.co short links.

A post may hold several videos (yt-dlp gives a playlist, one entry per video) and GIFs, which X
serves as silent looping MP4s under ``/tweet_video/``. yt-dlp leaves a post's photos out; our
extractor puts them back, each in its place among the videos.
"""

from __future__ import annotations

import re
from urllib.parse import urlencode

from chalicelib.platforms.base import Platform, picture_item, post_info

# Hosts that serve the same statuses under the same paths (link-preview mirrors).
MIRRORS = r"(?:[a-z]\.)?(?:fxtwitter|vxtwitter|fixupx|fixvx|twittpr)\.com"
_HOST = rf"https?://(?:(?:www|m(?:obile)?)\.)?(?:twitter|x)\.com|https?://{MIRRORS}"


class Twitter(Platform):
    name = "twitter"
    label = "X"
    supports = ("video", "multi_video", "gif", "images")
    HOSTS = re.compile(rf"(?:(?:www|m(?:obile)?)\.)?(?:twitter|x)\.com|{MIRRORS}|t\.co")
    VALID_URLS = (
        re.compile(rf"(?:{_HOST})/(?:(?:i/web|[^/?#]+)/status(?:es)?|statuses)/(?P<id>\d+)"),
        re.compile(rf"(?:{_HOST})/i/(?:cards/tfw/v1|videos(?:/tweet)?)/(?P<id>\d+)"),
    )
    SHORT_URLS = (re.compile(r"https?://t\.co/\w+"),)
    marked_pictures_only = True
    request_interval = 0.5

    def canonical(self, match: re.Match) -> str:
        return f"https://x.com/i/status/{match['id']}"

    def platform_id_of(self, info: dict) -> str | None:
        """Each video of a post carries its media id; the post's id is ``display_id``."""
        return info.get("display_id") or info.get("id")

    def video_item(self, item: dict) -> dict:
        gif = any("/tweet_video/" in (f.get("url") or "") for f in item.get("formats") or [item])
        return {**item, "kind": "video", "gif": gif}

    def extra_options(self) -> dict:
        return {"ignore_no_formats_error": True}  # a post of photos only has no formats

    def extractors(self) -> tuple[type, ...]:
        from yt_dlp.extractor.twitter import TwitterIE as YtDlpTwitterIE

        class TwitterIE(YtDlpTwitterIE):  # the same name, so the same ie_key: it takes yt-dlp's place
            def _extract_status(self, twid):
                self._status = super()._extract_status(twid)
                return self._status

            def _real_extract(self, url):
                self._status = {}
                info = super()._real_extract(url)
                return with_photos(info, self._status)

        return (TwitterIE,)


def with_photos(info: dict, status: dict) -> dict:
    """The post's videos (as yt-dlp gave them) and photos, in the post's order; the post as it was without photos."""
    media = [m for part in (status, status.get("quoted_status") or {})
             for m in (part.get("extended_entities") or {}).get("media") or ()]
    if not any(m.get("type") == "photo" for m in media):
        return info
    if info.get("_type") == "playlist":
        videos = list(info.get("entries") or ())
    else:
        videos = [info] if info.get("formats") and info.get("_type") != "url" else []
    post_id = info.get("display_id") or info.get("id")  # one video's info carries its media id as "id"
    base = post_info(info) | {"id": post_id, "display_id": post_id}
    remaining = iter(videos)
    items = [_photo(base, m) if m.get("type") == "photo" else next(remaining, None) for m in media]
    entries = [item for item in items if item] + list(remaining)  # a card's videos come after the post's media
    return {**base, "_type": "playlist", "entries": entries}


def _photo(base: dict, media: dict) -> dict | None:
    """A photo at its original size (X serves smaller ones unless asked for ``name=orig``)."""
    url = media.get("media_url_https") or media.get("media_url")
    if not url:
        return None
    original = media.get("original_info") or {}
    return picture_item(base, media.get("id_str"), f"{url}?{urlencode({'name': 'orig'})}",
                        original.get("width"), original.get("height"))


TWITTER = Twitter()
