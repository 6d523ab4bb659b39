"""Which caption tracks a capture keeps, the transcript made of them and its bound, the caption keys: table tests,
no network, no ffmpeg. One hour of rolling automatic captions: bench/transcript_size.py."""

from datetime import UTC, datetime

import pytest

from chalicelib.config import load_settings
from chalicelib.media.captions import AUTOMATIC, UPLOADED, answers, bounded, choose, pick_embedded, transcript
from chalicelib.storage import layout
from tests.media import ROLLING_CAPTIONS, ROLLING_TRANSCRIPT

CREATED = datetime(2026, 12, 2, tzinfo=UTC)

@pytest.mark.parametrize(("subtitles", "automatic", "wanted", "chosen"), [
    ({"en": [{}]}, {"en": [{}]}, ("en",), {"en": ("en", UPLOADED)}),  # uploaded first
    ({}, {"en": [{}], "de": [{}]}, ("en",), {"en": ("en", AUTOMATIC)}),  # then automatic
    ({"en-US": [{}]}, {"en": [{}]}, ("en",), {"en": ("en-US", UPLOADED)}),  # an uploaded regional one beats auto
    ({"en-GB": [{}], "en": [{}]}, {}, ("en",), {"en": ("en", UPLOADED)}),  # the exact code beats a regional one
    ({"pt-BR": [{}]}, {}, ("pt-br", "en"), {"pt-br": ("pt-BR", UPLOADED)}),
    ({"fr": [{}], "live_chat": [{}]}, {}, ("en",), {}),  # nothing in the owner's languages: none
    ({"de": [{}], "en": [{}]}, {}, ("en", "de"), {"en": ("en", UPLOADED), "de": ("de", UPLOADED)}),
    ({}, {}, ("en",), {}),
])
def test_choose_prefers_uploaded_then_automatic_then_exact_codes(subtitles, automatic, wanted, chosen):
    assert choose(subtitles, automatic, wanted) == chosen


@pytest.mark.parametrize(("code", "wanted", "expected"), [
    ("en", "en", True), ("en-US", "en", True), ("eng", "en", True), ("ger", "de", True), ("deu", "de", True),
    ("english", "en", False), ("es", "en", False), ("en", "en-us", False), ("", "en", False),
])
def test_a_track_code_answers_a_wanted_language(code, wanted, expected):
    assert answers(code, wanted) is expected


@pytest.mark.parametrize(("streams", "wanted", "untagged", "picked"), [
    ([(2, "eng")], ("en",), True, {"en": 2}),
    ([(2, "fre"), (3, "eng")], ("en", "fr"), True, {"en": 3, "fr": 2}),
    ([(2, None)], ("en",), True, {"und": 2}),  # a file made without language tags keeps its captions
    ([(2, "und")], ("en",), False, {}),  # ... unless the platform already gave captions
    ([(2, "spa"), (3, None)], ("en",), True, {"und": 3}),
    ([(2, "eng"), (3, None)], ("en",), True, {"en": 2}),
    ([], ("en",), True, {}),
])
def test_embedded_streams_are_picked_by_language(streams, wanted, untagged, picked):
    assert pick_embedded(streams, wanted, untagged=untagged) == picked


def test_rolling_automatic_captions_become_each_line_once_without_tags():
    assert transcript(ROLLING_CAPTIONS) == ROLLING_TRANSCRIPT


def test_cue_settings_notes_and_identifiers_are_not_text():
    vtt = ("WEBVTT\n\nNOTE made by hand\n\nSTYLE\n::cue { color: red }\n\nintro\n00:01.000 --> 00:02.000 line:0\n"
           "<v Anna>Hello <i>there</i>\r\n\r\n2\n00:02.000 --> 00:03.000\nHello there\nGeneral Kenobi\n")
    assert transcript(vtt) == "Hello there\nGeneral Kenobi"


@pytest.mark.parametrize(("text", "limit", "kept"), [
    ("short text", 64, "short text"),
    ("one two three", 9, "one two"),  # cut at a word boundary
    ("one\ntwo three", 6, "one"),
    ("ééé ééé", 7, "ééé"),  # never half a character
    ("abcdefgh", 4, "abcd"),  # one long word: cut inside it
])
def test_the_record_copy_is_bounded_in_utf8_bytes(text, limit, kept):
    assert bounded(text, limit) == kept and len(kept.encode()) <= limit


def test_caption_keys_follow_the_layout_and_never_hold_free_text():
    assert layout.caption_key("v1", CREATED, "pt-br") == "captions/2026/12/v1.pt-br.vtt"
    assert layout.transcript_key("v1", CREATED) == "captions/2026/12/v1.txt"
    assert layout.video_id_of("captions/2026/12/v1.pt-br.vtt") == "v1"
    assert layout.video_id_of("captions/2026/12/v1.txt") == "v1"
    assert {"captions/2026/12/v1.txt", "captions/2026/12/v1.en.vtt"} <= set(layout.keys_of("v1", CREATED, ("en",)))
    assert all(any(key.startswith(prefix) for prefix in layout.prefixes_of("v1", CREATED))
               for key in layout.keys_of("v1", CREATED, ("en",)))
    for bad in ("../x", "en/../../etc", "EN US", "english", ""):
        with pytest.raises(ValueError):
            layout.caption_key("v1", CREATED, bad)
    assert layout.content_type("captions/2026/12/v1.en.vtt") == "text/vtt; charset=utf-8"


def test_the_stage_default_languages_come_from_the_environment(monkeypatch):
    monkeypatch.setenv("PRSNL_CAPTION_LANGUAGES", " en, pt_BR ,en")
    assert load_settings().caption_languages == ("en", "pt-br")
    monkeypatch.delenv("PRSNL_CAPTION_LANGUAGES")
    assert load_settings().caption_languages == ("en",)
    monkeypatch.setenv("PRSNL_CAPTION_LANGUAGES", "en,../x")
    with pytest.raises(ValueError, match="PRSNL_CAPTION_LANGUAGES"):
        load_settings()
