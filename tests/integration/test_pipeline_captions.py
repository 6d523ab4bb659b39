"""Captions through the real worker: real yt-dlp reads a loopback page's HTML5 ``<track>``s (a VTT, an SRT it
converts, one whose server answers 500), real ffmpeg extracts a file's own mov_text subtitles; the WebVTT files and
the transcript land in S3 under the layout, the record keeps the transcript for search, and the API lists the
captions with signed URLs. S3/DynamoDB/SQS on in-process moto.
"""

from __future__ import annotations

import json
from urllib.parse import urlsplit

import pytest

from chalicelib import aws, platforms, wiring
from chalicelib.media.captions import MAX_CAPTION_BYTES
from chalicelib.records import users, videos
from chalicelib.storage import layout
from tests import fakes
from tests import media as test_media
from tests.api_calls import capture, captured_ready, get
from tests.static_site import serve

ENGLISH = """WEBVTT

00:00:00.000 --> 00:00:00.900
Hello from the <b>quokka</b> caption

00:00:00.900 --> 00:00:01.800
and its second line
"""
YOUTUBE = "https://www.youtube.com/watch?v=dQw4w9WgXcQ"
GERMAN_SRT = "1\n00:00:00,000 --> 00:00:01,500\nGuten Tag, Wombat\n"
EMBEDDED_SRT = "1\n00:00:00,000 --> 00:00:01,000\nan embedded numbat says hi\n"


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    root = tmp_path_factory.mktemp("site")
    test_media.make_clip(root / "clip.mp4", seconds=2, width=160, height=120)
    (root / "en.vtt").write_text(ENGLISH)
    (root / "de.srt").write_text(GERMAN_SRT)
    (root / "rolling.vtt").write_text(test_media.ROLLING_CAPTIONS)
    cue = "00:00:00.000 --> 00:00:01.000\nfar too long a caption file\n\n"
    (root / "huge.vtt").write_text("WEBVTT\n\n" + cue * (MAX_CAPTION_BYTES // len(cue) + 1))
    (root / "huge.html").write_text(
        '<!doctype html><html><head><title>Huge captions</title></head><body><video controls src="/clip.mp4">'
        '<track kind="subtitles" srclang="en" src="/huge.vtt"></video></body></html>')
    (root / "page.html").write_text(
        '<!doctype html><html><head><title>Captioned page</title></head><body>'
        '<video controls src="/clip.mp4">'
        '<track kind="subtitles" srclang="en" src="/en.vtt">'
        '<track kind="subtitles" srclang="de" src="/de.srt">'
        '<track kind="captions" srclang="fr" src="/broken/fr.vtt">'
        '</video></body></html>')
    with serve(root) as base_url:
        yield base_url


@pytest.fixture(scope="module")
def subtitled_mp4(media_dir):
    """An MP4 whose English subtitles are a mov_text stream (as phones and editors write them)."""
    return test_media.make_subtitled(media_dir / "subtitled.mp4", EMBEDDED_SRT)


@pytest.fixture(autouse=True)
def loopback_allowed(settings_env, work_dir):
    settings_env(PRSNL_ALLOW_LOOPBACK_URLS="true")


def stored_text(key: str) -> str:
    return aws.client("s3").get_object(Bucket=wiring.services().settings.bucket, Key=key)["Body"].read().decode()


def test_page_tracks_are_stored_as_webvtt_and_a_failing_one_is_left_out(client, user, drain, site, work_dir):
    # GIVEN an owner who reads English, German and French, and a page whose French track's server answers 500
    users.set_caption_languages(user.user_id, ["en", "de", "fr"])
    # WHEN the page is captured through the real worker
    answer = captured_ready(client, user, drain, f"{site}/page.html")
    video = videos.get(answer["video_id"])
    # THEN the capture is ready with the English and German captions, the French one simply missing
    assert answer["captions"] == {"en": {"origin": "uploaded", "source_language": "en"},
                                  "de": {"origin": "uploaded", "source_language": "de"}}
    en_key = layout.caption_key(video.video_id, video.created_at, "en")
    de_key = layout.caption_key(video.video_id, video.created_at, "de")
    assert en_key.startswith(f"captions/{video.created_at:%Y/%m}/{video.video_id}.en.vtt")
    assert "quokka" in stored_text(en_key)
    german = stored_text(de_key)  # the SRT, converted by yt-dlp's FFmpegSubtitlesConvertor
    assert german.startswith("WEBVTT") and "00:00.000 --> 00:01.500" in german and "Wombat" in german
    head = aws.client("s3").head_object(Bucket=wiring.services().settings.bucket, Key=en_key)
    assert head["ContentType"] == "text/vtt; charset=utf-8"
    # AND the record keeps the first language's transcript, the whole text sits next to the captions
    assert video.transcript == "Hello from the quokka caption\nand its second line"
    assert stored_text(layout.transcript_key(video.video_id, video.created_at)) == video.transcript
    # AND every caption object is counted in the video's bytes and is one of its keys (delete, sweep, backup)
    sizes = video.object_sizes.as_dict()
    assert {en_key, de_key, layout.transcript_key(video.video_id, video.created_at)} <= set(sizes)
    assert video.bytes_stored == sum(sizes.values()) == users.get_user(user.user_id).bytes_used
    assert {en_key, de_key} <= set(videos.object_keys(video))
    assert not any(work_dir.iterdir())


def test_a_platforms_automatic_captions_are_kept_when_it_has_no_uploaded_ones(client, user, drain, site,
                                                                             media_server, recorded_media):
    # GIVEN a YouTube video (its recorded answer) with automatic English captions and uploaded French ones only
    captions = {"subtitles": {"fr": [{"url": f"{site}/en.vtt", "ext": "vtt"}]},
                "automatic_captions": {"en": [{"url": f"{site}/rolling.vtt", "ext": "vtt"}],
                                       "de": [{"url": f"{site}/broken/de.vtt", "ext": "vtt"}]}}
    wiring.override(downloader=fakes.RecordedDownloader(
        media_server.url("files"), {platforms.resolve(YOUTUBE).canonical_url: "youtube_video"}, additions=captions))
    users.set_caption_languages(user.user_id, ["en", "de"])
    # WHEN it is captured, THEN the automatic English captions are kept (the German ones' server erred)
    answer = captured_ready(client, user, drain, YOUTUBE)
    assert answer["captions"] == {"en": {"origin": "automatic", "source_language": "en"}}
    # AND the transcript holds each rolling line once
    assert videos.get(answer["video_id"]).transcript == test_media.ROLLING_TRANSCRIPT


def test_a_word_only_in_the_captions_finds_the_capture(client, user, drain, site, media_server):
    captured_ready(client, user, drain, f"{site}/page.html")
    captured_ready(client, user, drain, media_server.url("files", "clip.mp4"))
    found = get(client, user, "/api/videos?q=QUOKKA").json_body["videos"]
    assert [video["title"] for video in found] == ["Captioned page"]
    assert "transcript" not in found[0]  # answers carry the languages, not the text
    assert get(client, user, "/api/videos?q=quokka+wombat").json_body["videos"] == []  # German is not searched


def test_a_link_without_captions_has_none(client, user, drain, media_server):
    answer = captured_ready(client, user, drain, media_server.url("files", "clip.mp4"))
    video = videos.get(answer["video_id"])
    assert answer["captions"] == {} and video.transcript is None
    assert not any(key.startswith(layout.CAPTIONS_PREFIX) for key in video.object_sizes.as_dict())


def test_embedded_mov_text_subtitles_are_extracted_with_ffmpeg(client, user, drain, media_server, subtitled_mp4):
    # GIVEN the default languages (PRSNL_CAPTION_LANGUAGES: en) and an MP4 with an English mov_text stream
    answer = captured_ready(client, user, drain, media_server.url("files", subtitled_mp4.name))
    video = videos.get(answer["video_id"])
    # THEN its subtitles are stored as WebVTT under the owner's language code, and searched
    assert answer["captions"] == {"en": {"origin": "embedded", "source_language": "eng"}}
    vtt = stored_text(layout.caption_key(video.video_id, video.created_at, "en"))
    assert vtt.startswith("WEBVTT") and "an embedded numbat says hi" in vtt
    assert video.transcript == "an embedded numbat says hi"
    assert [v["video_id"] for v in get(client, user, "/api/videos?q=numbat").json_body["videos"]] == [video.video_id]


def test_a_caption_file_past_the_limit_is_stopped_mid_download_and_left_out(client, user, drain, site, work_dir,
                                                                           app_logs):
    # GIVEN a page whose caption file is larger than MAX_CAPTION_BYTES
    answer = captured_ready(client, user, drain, f"{site}/huge.html")
    # THEN yt-dlp's progress hook stopped its download, and the capture is ready without captions, nothing left
    [left_out] = [r for r in app_logs.records() if r["message"] == "captions left out"]
    assert left_out["step"] == "platform captions" and left_out["reason"].startswith("CaptionTooLargeError")
    assert answer["captions"] == {} and videos.get(answer["video_id"]).transcript is None
    assert not any(work_dir.iterdir())


def test_captions_in_an_unwanted_language_are_not_kept(client, user, drain, site):
    users.set_caption_languages(user.user_id, ["es"])
    answer = captured_ready(client, user, drain, f"{site}/page.html")
    assert answer["captions"] == {} and videos.get(answer["video_id"]).transcript is None


def test_deleting_a_captioned_video_removes_its_captions(client, user, drain, site):
    answer = captured_ready(client, user, drain, f"{site}/page.html")
    video = videos.get(answer["video_id"])
    response = client.http.delete(f"/api/videos/{video.video_id}", headers=user.headers)
    assert response.status_code == 204
    left = aws.client("s3").list_objects_v2(Bucket=wiring.services().settings.bucket, Prefix=layout.CAPTIONS_PREFIX)
    assert left.get("KeyCount", 0) == 0
    assert users.get_user(user.user_id).bytes_used == 0


def test_queued_capture_answer_has_no_captions_yet(client, user, site):
    body = capture(client, user, f"{site}/page.html").json_body
    assert get(client, user, f"/api/videos/{body['video_id']}").json_body["captions"] == {}


def test_the_api_lists_the_captions_with_signed_urls(client, user, drain, site, other_user):
    users.set_caption_languages(user.user_id, ["de", "en"])
    video_id = captured_ready(client, user, drain, f"{site}/page.html")["video_id"]
    answer = get(client, user, f"/api/videos/{video_id}/captions")
    assert answer.status_code == 200, answer.json_body
    body = answer.json_body
    # the owner's order: German first, so the transcript is the German text
    assert [(c["language"], c["origin"]) for c in body["captions"]] == [("de", "uploaded"), ("en", "uploaded")]
    for caption in body["captions"]:
        url = urlsplit(caption["url"])
        assert url.path.endswith(f"/{video_id}.{caption['language']}.vtt") and "X-Amz-Signature" in url.query
        assert caption["expires_at"]
    assert urlsplit(body["transcript"]["url"]).path.endswith(f"/{video_id}.txt")
    assert videos.get(video_id).transcript == "Guten Tag, Wombat"
    # another user cannot list them
    assert get(client, other_user, f"/api/videos/{video_id}/captions").status_code == 404


def test_the_watch_page_carries_a_track_per_language_served_from_its_own_origin(client, user, drain, site):
    users.set_caption_languages(user.user_id, ["en", "de"])
    watch_url = captured_ready(client, user, drain, f"{site}/page.html")["watch_url"]
    page_path = urlsplit(watch_url).path
    html = client.http.get(page_path).body.decode()
    assert (f'<track kind="subtitles" srclang="en" label="en" src="{watch_url}/captions/en" default>'
            f'<track kind="subtitles" srclang="de" label="de" src="{watch_url}/captions/de">') in html
    vtt = client.http.get(f"{page_path}/captions/en")
    assert vtt.status_code == 200 and vtt.headers["Content-Type"] == "text/vtt; charset=utf-8"
    assert vtt.body.decode().startswith("WEBVTT") and "quokka" in vtt.body.decode()
    missing = client.http.get(f"{page_path}/captions/fr")
    assert missing.status_code == 404 and missing.json_body["error"]["code"] == "captions_not_found"
    assert client.http.get("/watch/not-a-token/captions/en").status_code == 404


def test_the_caption_languages_are_a_setting_of_the_user(client, user, settings_env):
    settings_env(PRSNL_CAPTION_LANGUAGES="en,pt_BR")
    assert get(client, user, "/api/me").json_body == {
        "user_id": user.user_id, "name": "Alice", "caption_languages": ["en", "pt-br"],
        "caption_languages_default": True}
    changed = client.http.patch("/api/me", headers=user.headers, body=json.dumps({"caption_languages": ["DE", "de"]}))
    assert changed.status_code == 200 and changed.json_body["caption_languages"] == ["de"]
    assert users.get_user(user.user_id).caption_languages == ["de"]
    back = client.http.patch("/api/me", headers=user.headers, body=json.dumps({"caption_languages": None}))
    assert back.json_body["caption_languages"] == ["en", "pt-br"] and back.json_body["caption_languages_default"]


@pytest.mark.parametrize("body", [{"caption_languages": []}, {"caption_languages": "en"},
                                  {"caption_languages": ["../x"]}, {"caption_languages": [3]},
                                  {"caption_languages": ["en"] * 9}, {"languages": ["en"]}, {}])
def test_bad_caption_languages_are_a_clear_400_and_change_nothing(client, user, body):
    response = client.http.patch("/api/me", headers=user.headers, body=json.dumps(body))
    assert response.status_code == 400, response.json_body
    assert response.json_body["error"]["code"] in ("invalid_caption_languages", "invalid_settings")
    assert users.get_user(user.user_id).caption_languages is None
    assert client.http.get("/api/me").status_code == 401  # and no answer without a key
