"""TikTok: /@user/video/ID and /@user/photo/ID, embeds; vm./vt./tiktok.com/t short links.

Photo posts (slideshows): yt-dlp reads them from the /video/ URL but offers only their sound and
the cover picture (it declines to extract the slides: yt-dlp issue 6217). Our extractor adds every
picture of the post's ``imagePost``, in order, so they are kept as images; never as audio.
"""

from __future__ import annotations

import re

from chalicelib.platforms.base import Platform, picture_item, post_info

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
    marked_pictures_only = True
    request_interval = 1.0
    error_rules = ((r"IP address is blocked", "geo_blocked"), *Platform.error_rules)

    def canonical(self, match: re.Match) -> str:
        """The /video/ form, which yt-dlp reads for photo posts too; the user part is optional."""
        user = match.groupdict().get("user") or ""
        return f"https://www.tiktok.com/@{user}/video/{match['id']}"

    def extra_options(self) -> dict:
        return {"ignore_no_formats_error": True}  # a photo post's pictures have no formats

    def extractors(self) -> tuple[type, ...]:
        from yt_dlp.extractor.tiktok import TikTokIE as YtDlpTikTokIE

        class TikTokIE(YtDlpTikTokIE):  # the same name, so the same ie_key: it takes yt-dlp's place
            def _parse_aweme_video_web(self, aweme_detail, webpage_url, video_id, extract_flat=False):
                info = super()._parse_aweme_video_web(aweme_detail, webpage_url, video_id, extract_flat)
                return with_pictures(info, aweme_detail)

        return (TikTokIE,)


def with_pictures(info: dict, aweme: dict) -> dict:
    """A photo post as the playlist of its pictures in order; any other post as yt-dlp gave it."""
    pictures = [(image.get("imageURL") or {}, image) for image in (aweme.get("imagePost") or {}).get("images") or ()]
    pictures = [(urls["urlList"][0], image) for urls, image in pictures if urls.get("urlList")]
    if not pictures:
        return info
    base = post_info(info) | {"display_id": info["id"]}
    entries = [picture_item(base, f"{info['id']}-{n}", url, image.get("imageWidth"), image.get("imageHeight"))
               for n, (url, image) in enumerate(pictures, 1)]
    return {**base, "_type": "playlist", "entries": entries}


TIKTOK = TikTok()
