"""Platform processors driven by recorded yt-dlp info dicts: metadata, post items, options, errors.

No yt-dlp here: these are the pure parts (tests/integration runs yt-dlp's own format selector).
"""

from __future__ import annotations

import json
import stat
import tempfile
from dataclasses import replace
from pathlib import Path

import pytest

from chalicelib.config import get_settings
from chalicelib.errors import PermanentJobError, TransientJobError
from chalicelib.platforms import PLATFORMS, get_platform

FIXTURES = Path(__file__).parents[1] / "fixtures" / "platforms"
ERRORS = json.loads((FIXTURES / "errors.json").read_text())


def recorded(name: str) -> dict:
    """A recorded info dict whose media URLs point at a closed loopback port."""
    return json.loads((FIXTURES / f"{name}.json").read_text().replace("{media}", "http://127.0.0.1:9"))


# --- metadata -----------------------------------------------------------------------------------


def test_youtube_metadata_maps_every_field():
    metadata = get_platform("youtube").to_metadata(recorded("youtube_video"))
    assert metadata == {
        "title": "Rick Astley - Never Gonna Give You Up (Official Video) (4K Remaster)",
        "description": "The official video for “Never Gonna Give You Up” by Rick Astley.",
        "uploader": "Rick Astley",
        "uploader_id": "@RickAstleyYT",
        "upload_date": "20091025",
        "duration": 213,
        "platform_id": "dQw4w9WgXcQ",
        "original_url": "https://youtu.be/dQw4w9WgXcQ?si=x",
        "thumbnail_url": "https://i.ytimg.com/vi/dQw4w9WgXcQ/maxresdefault.jpg",
        "view_count": 1700000000,
        "like_count": 18000000,
    }


def test_twitter_metadata_uses_post_id_when_item_is_one_video_of_many():
    video = recorded("twitter_multi_video")["entries"][1]
    metadata = get_platform("twitter").to_metadata(video)
    assert metadata["platform_id"] == "1585341984679469056"
    assert metadata["uploader_id"] == "NASA"
    assert metadata["upload_date"] == "20231114"  # from the timestamp when yt-dlp gave no date
    assert metadata["original_url"] == "https://x.com/i/status/1585341984679469056"
    assert metadata["thumbnail_url"].startswith("https://pbs.twimg.com/media/")


def test_instagram_metadata_falls_back_to_channel_and_best_thumbnail():
    reel = recorded("instagram_reel")
    del reel["uploader"]
    metadata = get_platform("instagram").to_metadata(reel)
    assert (metadata["uploader"], metadata["uploader_id"]) == ("natgeo", "787132")
    assert metadata["thumbnail_url"] == "https://scontent.cdninstagram.com/C2x0Q-xs_Ab.jpg"
    assert metadata["view_count"] == 1200000


def test_tiktok_metadata_when_fields_are_missing_gives_none():
    photo = recorded("tiktok_photo_post")
    metadata = get_platform("tiktok").to_metadata(photo)
    assert metadata["duration"] is None and metadata["platform_id"] == "7338943586698054958"
    assert metadata["uploader"] == "akihitoko1"


@pytest.mark.parametrize("platform", ["generic", "direct"])
def test_pages_and_files_have_no_platform_id(platform):
    metadata = get_platform(platform).to_metadata(recorded("direct_file"))
    assert metadata["platform_id"] is None
    assert metadata["title"] == "clip"


def test_page_title_loses_the_number_yt_dlp_gives_its_only_video():
    # GIVEN yt-dlp's answer for a page with one og:video, and for the first of a page's several videos
    single = {"id": "clip-1", "title": "Sample page (1)"}
    first_of_many = {"id": "clip-1", "title": "Sample page (1)", "playlist_index": 1}
    # THEN the page's own title is kept for the one video, and the number where it tells videos apart
    assert get_platform("generic").to_metadata(single)["title"] == "Sample page"
    assert get_platform("generic").to_metadata(first_of_many)["title"] == "Sample page (1)"


# --- post items ---------------------------------------------------------------------------------


def test_single_video_gives_itself():
    info = recorded("youtube_video")
    items = get_platform("youtube").entries(info)
    assert len(items) == 1 and items[0]["kind"] == "video" and items[0]["id"] == "dQw4w9WgXcQ"


def test_twitter_post_gives_every_video_and_marks_the_gif():
    items = get_platform("twitter").entries(recorded("twitter_multi_video"))
    assert [(i["kind"], i["id"], i["gif"]) for i in items] == [
        ("video", "1585341970000000001", False),
        ("video", "1585341970000000002", False),
        ("video", "1585341970000000003", True),
    ]


def test_instagram_carousel_keeps_videos_and_images_in_order():
    items = get_platform("instagram").entries(recorded("instagram_carousel"))
    assert [i["kind"] for i in items] == ["video", "image", "video"]
    image = items[1]
    assert (image["url"], image["width"], image["height"]) == (
        "http://127.0.0.1:9/ig/img-1080.jpg",
        1080,
        1350,
    )
    assert image["http_headers"] == {"Referer": "https://www.instagram.com/"}


def test_tiktok_photo_post_gives_every_picture_never_its_sound():
    items = get_platform("tiktok").entries(recorded("tiktok_photo_post"))
    assert [(i["kind"], i["id"], i["url"]) for i in items] == [
        ("image", f"7338943586698054958-{n}", f"http://127.0.0.1:9/tt/photo-{n}.jpeg") for n in (1, 2, 3)]
    assert items[0]["title"] == "three photos from the trip"
    assert items[0]["http_headers"] == {"Referer": "https://www.tiktok.com/@akihitoko1/video/7338943586698054958"}


@pytest.mark.parametrize("platform, name", [("tiktok", "tiktok_video"), ("twitter", "twitter_multi_video")])
def test_a_video_whose_formats_went_missing_is_refused_not_kept_as_its_cover(platform, name):
    # GIVEN yt-dlp's answer without formats (it lets that pass for the sake of photo posts), thumbnails still there
    info = recorded(name)
    items = info["entries"] if info.get("_type") == "playlist" else [info]
    for item in items:
        item["formats"] = []
    assert any(item.get("thumbnails") for item in items)
    # THEN the post is refused as having no video
    with pytest.raises(PermanentJobError) as caught:
        get_platform(platform).entries(info)
    assert caught.value.code == "no_video_in_post"


def test_x_post_with_photos_gives_them_in_their_place():
    items = get_platform("twitter").entries(recorded("twitter_photo_post"))
    assert [(i["kind"], i.get("gif")) for i in items] == [("image", None), ("video", False), ("image", None)]


def test_post_without_video_fails_as_no_video_when_platform_keeps_no_images():
    # GIVEN an X post whose only item has sound and no picture
    info = {"id": "1", "formats": [{"format_id": "a", "url": "http://127.0.0.1:9/a.m4a", "vcodec": "none"}]}
    # THEN it is refused with a reason, not saved as audio
    with pytest.raises(PermanentJobError) as caught:
        get_platform("twitter").entries(info)
    assert caught.value.code == "no_video_in_post"


def test_playlist_skips_entries_yt_dlp_could_not_read():
    info = recorded("twitter_multi_video")
    info["entries"][1] = None
    assert len(get_platform("twitter").entries(info)) == 2


@pytest.mark.parametrize("status", ["is_live", "is_upcoming"])
def test_live_and_upcoming_are_refused_before_download(status):
    info = {**recorded("youtube_video"), "live_status": status}
    with pytest.raises(PermanentJobError) as caught:
        get_platform("youtube").entries(info)
    assert caught.value.code == "live_stream"


def test_stream_that_just_ended_is_retried_later():
    info = {**recorded("youtube_video"), "live_status": "post_live"}
    with pytest.raises(TransientJobError):
        get_platform("youtube").entries(info)


# --- yt-dlp options -----------------------------------------------------------------------------


@pytest.mark.parametrize("platform", PLATFORMS, ids=lambda p: p.name)
def test_options_choose_formats_and_leave_file_names_to_the_downloader(platform):
    opts = platform.ydl_options(replace(get_settings(), max_video_bytes=1000))
    assert "outtmpl" not in opts
    assert "[filesize<?1000]" in opts["format"]
    assert opts["format_sort"][0] == "vcodec:h264"
    assert "cookiefile" not in opts and "proxy" not in opts


def test_options_write_platform_cookies_to_a_private_file(monkeypatch, tmp_path):
    # GIVEN Instagram cookies in Netscape text without its header line
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    cookies = ".instagram.com\tTRUE\t/\tTRUE\t2000000000\tsessionid\tabc123"
    monkeypatch.setenv("PRSNL_COOKIES_INSTAGRAM", cookies)
    # WHEN the options are built twice
    first = get_platform("instagram").ydl_options(get_settings())
    second = get_platform("instagram").ydl_options(get_settings())
    # THEN one private cookie file with the header yt-dlp expects is used, for Instagram only
    path = Path(first["cookiefile"])
    assert path.parent == tmp_path
    assert second["cookiefile"] == first["cookiefile"]
    assert path.read_text() == f"# Netscape HTTP Cookie File\n{cookies}\n"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert "cookiefile" not in get_platform("youtube").ydl_options(get_settings())


def test_options_use_platform_proxy_before_the_common_one(monkeypatch):
    monkeypatch.setenv("PRSNL_PROXY", "http://proxy.internal:3128")
    monkeypatch.setenv("PRSNL_PROXY_YOUTUBE", "socks5://residential.internal:1080")
    assert (
        get_platform("youtube").ydl_options(get_settings())["proxy"] == "socks5://residential.internal:1080"
    )
    assert get_platform("tiktok").ydl_options(get_settings())["proxy"] == "http://proxy.internal:3128"


def test_options_pace_requests_and_back_off_per_platform():
    youtube = get_platform("youtube").ydl_options(get_settings())
    instagram = get_platform("instagram").ydl_options(get_settings())
    assert instagram["sleep_interval_requests"] > youtube["sleep_interval_requests"] > 0
    backoff = youtube["retry_sleep_functions"]["http"]
    assert [backoff(n=n) for n in (1, 2, 3, 10)] == [2.0, 4.0, 8.0, 30.0]
    assert youtube["noplaylist"] is True
    assert instagram["ignore_no_formats_error"] is True


# --- errors -------------------------------------------------------------------------------------


@pytest.mark.parametrize("case", ERRORS, ids=lambda c: f"{c['platform']}-{c['code']}-{c['message'][-30:]}")
def test_recorded_ytdlp_errors_map_to_our_codes(case):
    # WHEN a recorded yt-dlp message is classified by its platform
    error = get_platform(case["platform"]).classify_error(case["message"])
    # THEN it has our stable code, is retryable exactly when it should be, and speaks without CLI advice
    assert error.code == case["code"]
    assert isinstance(error, TransientJobError if case["retryable"] else PermanentJobError)
    assert "--cookies" not in error.message and "yt-dlp -U" not in error.message


def test_bot_check_names_the_platform_and_says_what_helps():
    message = next(c["message"] for c in ERRORS if c["code"] == "bot_check")
    error = get_platform("youtube").classify_error(Exception(message))
    assert error.message == (
        "YouTube asked us to prove we are not a bot. What helps: YouTube cookies from a signed-in browser or a "
        "residential proxy in the settings, or trying again in a few hours (Sign in to confirm you\u2019re not a bot)"
    )


def test_network_exceptions_are_transient_and_our_errors_pass_through():
    platform = get_platform("generic")
    assert platform.classify_error(TimeoutError("timed out")).code == "transient"
    assert platform.classify_error(ConnectionResetError(104, "reset")).code == "transient"
    ours = PermanentJobError("too big", code="too_large")
    assert platform.classify_error(ours) is ours
