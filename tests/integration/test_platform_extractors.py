"""Our extractors in yt-dlp's place, run by yt-dlp itself on the platforms' recorded answers: a TikTok photo post
keeps every picture and an X post its photos, in the post's order.

Only the platform's answer is recorded (TikTok's page data, X's status JSON): the platforms cannot be reached
offline. yt-dlp's extraction around it, and ours, run for real.
"""

from __future__ import annotations

import json

from yt_dlp.utils import ExtractorError

from chalicelib.config import get_settings
from chalicelib.media.download import youtube_dl
from chalicelib.platforms import get_platform
from tests.fakes import FIXTURES

MEDIA = "http://127.0.0.1:9"


def answer(name: str):
    return json.loads((FIXTURES / f"{name}.json").read_text().replace("{media}", MEDIA))


def extract(url: str, extractor, params: dict | None = None) -> dict:
    """yt-dlp's extract_info (no download) with ``extractor`` in place of the site's own."""
    with youtube_dl({"quiet": True, "no_warnings": True, **(params or {})}) as ydl:
        ydl.add_info_extractor(extractor())
        return ydl.extract_info(url, download=False, process=False)


def test_tiktok_photo_post_keeps_every_picture_in_order():
    (ours,) = get_platform("tiktok").extractors()
    page_data = answer("tiktok_photo_post_web")

    class TikTokIE(ours):  # the page TikTok served, recorded
        def _extract_web_data_and_status(self, url, video_id, fatal=True):
            return page_data, 0

    info = extract("https://www.tiktok.com/@akihitoko1/video/7338943586698054958", TikTokIE)
    items = get_platform("tiktok").entries(info)
    assert [(i["kind"], i["id"], i["url"], i["width"], i["height"]) for i in items] == [
        ("image", "7338943586698054958-1", f"{MEDIA}/tt/photo-1.jpeg", 1080, 1440),
        ("image", "7338943586698054958-2", f"{MEDIA}/tt/photo-2.jpeg", 1080, 1350),
        ("image", "7338943586698054958-3", f"{MEDIA}/tt/photo-3.jpeg", 1440, 1080),
    ]
    assert get_platform("tiktok").to_metadata(info)["uploader"] == "akihitoko1"


def test_x_post_keeps_its_photos_in_their_place_among_its_videos():
    (ours,) = get_platform("twitter").extractors()
    status = answer("twitter_photos_status")

    class TwitterIE(ours):  # the status X's API answered, recorded
        def _call_api(self, path, video_id, query=None, graphql=False):
            return status

    info = extract("https://x.com/i/status/1700000000000000042", TwitterIE,
                   {"extractor_args": {"twitter": {"api": ["legacy"]}}})
    items = get_platform("twitter").entries(info)
    assert [(i["kind"], i["id"]) for i in items] == [
        ("image", "1700000000000000101"), ("video", "1700000000000000102"), ("image", "1700000000000000103")]
    assert items[0]["url"] == f"{MEDIA}/x/photo-1.jpg?name=orig"
    assert get_platform("twitter").to_metadata(info)["platform_id"] == "1700000000000000042"


def test_x_post_of_photos_only_is_kept_not_refused_as_no_video():
    (ours,) = get_platform("twitter").extractors()
    status = answer("twitter_photos_status")
    status["extended_entities"]["media"] = [m for m in status["extended_entities"]["media"] if m["type"] == "photo"]

    class TwitterIE(ours):
        def _call_api(self, path, video_id, query=None, graphql=False):
            return status

    info = extract("https://x.com/i/status/1700000000000000042", TwitterIE,
                   {"extractor_args": {"twitter": {"api": ["legacy"]}}, "ignore_no_formats_error": True})
    assert [i["kind"] for i in get_platform("twitter").entries(info)] == ["image", "image"]


def test_extractor_retries_call_our_backoff_the_way_yt_dlp_does():
    # GIVEN a platform's options (http and fragment retries are proven in test_pipeline_retries.py)
    options = get_platform("youtube").ydl_options(get_settings())
    attempts = []
    # WHEN an extractor's own retry loop (yt-dlp's RetryManager) meets a failure once
    with youtube_dl({**options, "quiet": True, "no_warnings": True}) as ydl:
        extractor = ydl.get_info_extractor("Generic")
        for retry in extractor.RetryManager():
            attempts.append(retry.attempt)
            if len(attempts) == 1:
                retry.error = ExtractorError("a flaky answer", expected=True)
    # THEN yt-dlp slept by our function (called as sleep_func(n=...)) and tried again
    assert attempts == [1, 2]
