"""Audio captures as plain values: the copy-or-encode plan, the kind an item is kept as, which post items are
audio, the audio key in the layout and the audio de-duplication key. No ffmpeg, no moto."""

from datetime import UTC, datetime

import pytest

from chalicelib.errors import PermanentJobError, PrsnlError
from chalicelib.media.audio import MIN_BITRATE, plan
from chalicelib.media.probe import AudioInfo, MediaInfo, VideoInfo
from chalicelib.media.transcode import AUDIO_BITRATE
from chalicelib.pipeline.rules import stored_kind
from chalicelib.platforms import get_platform, resolve
from chalicelib.storage import layout

CREATED = datetime(2026, 12, 2, tzinfo=UTC)


def media(codec: str | None = "aac", *, bit_rate: int | None = 96_000, channels: int = 2,
          video: bool = False) -> MediaInfo:
    return MediaInfo(
        format_name="mp3" if codec == "mp3" else "mov,mp4,m4a,3gp,3g2,mj2", duration=60.0, size=1_000_000,
        bit_rate=bit_rate,
        video=VideoInfo(0, "h264", "High", "yuv420p", 1280, 720, 30.0, None) if video else None,
        audio=AudioInfo(1, codec, 44100, channels, bit_rate) if codec else None,
    )


@pytest.mark.parametrize(("source", "audio", "kind", "bitrate", "channels"), [
    (media("aac"), "copy", "remux", None, None),  # AAC is kept as it is, whatever its bitrate
    (media("aac", bit_rate=320_000, channels=6), "copy", "remux", None, None),
    (media("aac", video=True), "copy", "remux", None, None),  # a video asked for as audio: its AAC, copied
    (media("mp3", bit_rate=64_000, channels=1), "aac", "transcode", 64_000, 1),  # a podcast stays 64 kbit/s
    (media("mp3", bit_rate=320_000), "aac", "transcode", AUDIO_BITRATE, 2),  # capped
    (media("opus", bit_rate=None), "aac", "transcode", AUDIO_BITRATE, 2),  # unknown: the usual bitrate
    (media("flac", bit_rate=900_000, channels=6), "aac", "transcode", AUDIO_BITRATE, 2),  # downmixed to stereo
    (media("pcm_s16le", bit_rate=16_000), "aac", "transcode", MIN_BITRATE, 2),  # never below the floor
    (media("vorbis", video=True), "aac", "transcode", 96_000, 2),
])
def test_plan_copies_aac_and_encodes_anything_else(source, audio, kind, bitrate, channels):
    p = plan(source)
    assert (p.audio, p.kind, p.bitrate, p.channels) == (audio, kind, bitrate, channels)


def test_plan_refuses_media_without_sound():
    with pytest.raises(PermanentJobError) as refused:
        plan(media(None, video=True))
    assert refused.value.code == "no_audio"


@pytest.mark.parametrize(("asked", "source", "expected"), [
    ("audio", media("aac", video=True), "audio"),  # asked for: the picture is left out
    ("video", media("mp3"), "audio"),  # a file with sound and no picture (a direct MP3)
    ("video", media("aac", video=True), "video"),
    ("video", media(None, video=True), "video"),  # a silent video stays a video
])
def test_an_item_is_kept_as_audio_when_asked_or_when_it_has_no_picture(asked, source, expected):
    assert stored_kind(asked, source) == expected


SOUND = {"id": "a", "formats": [{"url": "http://x/a.mp3", "vcodec": "none", "acodec": "mp3"}]}
CLIP = {"id": "v", "formats": [{"url": "http://x/v.mp4", "vcodec": "h264", "acodec": "aac"}]}
SILENT = {"id": "g", "formats": [{"url": "http://x/g.mp4", "vcodec": "h264", "acodec": "none"}]}
PICTURE = {"id": "p", "picture": True, "thumbnails": [{"url": "http://x/p.jpg"}]}


@pytest.mark.parametrize(("platform", "info", "audio_only", "kinds"), [
    ("generic", SOUND, False, ["audio"]),  # an MP3 link, a podcast page: kept as audio
    ("direct", SOUND, False, ["audio"]),
    ("generic", CLIP, False, ["video"]),
    ("generic", CLIP, True, ["audio"]),
    ("youtube", CLIP, True, ["audio"]),
    ("twitter", {"_type": "playlist", "entries": [CLIP, CLIP]}, True, ["audio", "audio"]),
    ("tiktok", {"_type": "playlist", "entries": [PICTURE, SOUND]}, False, ["image"]),  # a photo post's soundtrack
    ("tiktok", {"_type": "playlist", "entries": [PICTURE, SOUND]}, True, ["audio"]),  # asked for: the sound alone
    ("twitter", {"_type": "playlist", "entries": [SILENT, CLIP]}, True, ["audio"]),  # a silent GIF has none
])
def test_post_items_are_audio_when_asked_or_when_the_site_keeps_sound(platform, info, audio_only, kinds):
    assert [item["kind"] for item in get_platform(platform).entries(info, audio_only=audio_only)] == kinds


@pytest.mark.parametrize("platform", ["tiktok", "instagram", "youtube"])
def test_sites_whose_soundtracks_are_no_capture_still_refuse_sound_alone(platform):
    with pytest.raises(PrsnlError) as refused:
        get_platform(platform).entries(SOUND)
    assert refused.value.code == "no_video_in_post"


def test_audio_asked_of_a_post_without_sound_is_refused_as_no_audio():
    with pytest.raises(PermanentJobError) as refused:
        get_platform("twitter").entries({"_type": "playlist", "entries": [SILENT, PICTURE]}, audio_only=True)
    assert refused.value.code == "no_audio"


def test_the_audio_key_is_in_the_layout_and_covered_by_delete_sweep_and_backup():
    key = layout.audio_key("abc", CREATED)
    assert key == "audio/2026/12/abc.m4a"
    assert key in layout.keys_of("abc", CREATED)
    assert any(key.startswith(prefix) for prefix in layout.prefixes_of("abc", CREATED))
    assert not any(layout.audio_key("abcd", CREATED).startswith(p) for p in layout.prefixes_of("abc", CREATED))
    assert layout.video_id_of(key) == "abc"
    assert layout.AUDIO_PREFIX in layout.MEDIA_PREFIXES
    assert layout.content_type(key) == "audio/mp4"


def test_an_audio_capture_is_deduplicated_apart_from_the_video_of_the_same_link():
    resolved = resolve("https://www.youtube.com/watch?v=dQw4w9WgXcQ")
    assert resolved.dedupe_key == "youtube:dQw4w9WgXcQ"
    assert resolved.as_audio().dedupe_key == "youtube:dQw4w9WgXcQ#audio"
    assert resolved.as_audio().canonical_url == resolved.canonical_url
