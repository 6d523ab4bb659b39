"""Audio captures in a real browser (headless Chromium through Playwright) on `make run`'s stack: a podcast-like
MP3 with cover art, saved as sound only from the web library, is listed with its artwork and plays there, and its
watch link plays it in an <audio> player (served as audio/mp4) with its artwork, without any key."""

from __future__ import annotations

import pytest
import requests

from tests import media as test_media
from tests.e2e.conftest import wait_for

pytestmark = pytest.mark.e2e
DEADLINE_MS = 90_000


@pytest.fixture(scope="module")
def episode(tmp_path_factory):
    """An MP3 with cover art on a loopback server of its own (the stack's worker may fetch loopback links)."""
    from chalicelib.local.samples import MediaServer

    root = tmp_path_factory.mktemp("audio")
    test_media.make_audio(root / "episode.mp3", seconds=4, codec="libmp3lame", bitrate="64k", cover=True)
    server = MediaServer(root).start()
    yield server.url("files", "episode.mp3")
    server.stop()


def wait_playing(page, selector: str) -> float:
    page.eval_on_selector(selector, "media => { media.muted = true; media.play(); }")
    page.wait_for_function(f"document.querySelector('{selector}').currentTime > 0.5", timeout=DEADLINE_MS)
    return page.eval_on_selector(selector, "media => media.currentTime")


def test_sound_only_capture_lists_and_plays_in_the_library_and_on_its_watch_page(local_stack, browser, episode,
                                                                                 screenshot, figures):
    api, key = local_stack["api_url"], local_stack["api_key"]
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    media_types = []
    page.on("response", lambda r: media_types.append(r.headers.get("content-type"))
            if "X-Amz-Signature" in r.url and "/audio/" in r.url else None)
    # GIVEN the signed-in library
    page.goto(f"{api}/")
    page.fill("#api-key", key)
    page.click("#sign-in-form button")
    page.wait_for_selector("#library:not([hidden])")
    # WHEN the MP3 is pasted with "sound only"
    page.fill("#links", episode)
    page.check("#audio-only")
    page.click("#capture-form button")
    page.wait_for_selector("#jobs li[data-status=succeeded]", timeout=DEADLINE_MS)
    # THEN its card is ready, marked audio, with its cover art and its length
    card = page.locator("#grid .card[data-status=ready]").first
    card.wait_for()
    page.wait_for_function("document.querySelector('#grid .card[data-status=ready] .thumb img')?.naturalWidth > 0",
                           timeout=DEADLINE_MS)
    assert card.locator(".kind").inner_text() == "♪ audio" and card.locator(".length").inner_text() == "0:04"
    # AND it plays in the library's player
    card.locator(".thumb").click()
    assert wait_playing(page, "#player") > 0.5
    screenshot(page, "audio-1-library")
    page.click("#player-close")

    # WHEN its watch link is opened with no key
    video_id = card.get_attribute("data-video")
    record = requests.get(f"{api}/api/videos/{video_id}", headers={"Authorization": f"Bearer {key}"}, timeout=10)
    video = record.json()
    assert (video["kind"], video["audio_codec"], video["file_key"].split("/")[0]) == ("audio", "aac", "audio")
    watcher = browser.new_context(viewport={"width": 390, "height": 844})
    watch = watcher.new_page()
    watch.on("response", lambda r: media_types.append(r.headers.get("content-type"))
             if "X-Amz-Signature" in r.url and "/audio/" in r.url else None)
    watch.goto(video["watch_url"])
    # THEN the page has an <audio> player (no <video>) with the artwork above it, and the sound plays
    assert watch.locator("audio#player").count() == 1 and watch.locator("video").count() == 0
    watch.wait_for_function("document.querySelector('#artwork').naturalWidth > 0", timeout=DEADLINE_MS)
    figures["audio_watch_played_seconds"] = wait_playing(watch, "#player")
    # AND the media came from the signed URL as audio/mp4
    assert media_types and set(media_types) == {"audio/mp4"}, media_types
    screenshot(watch, "audio-2-watch-page")
    watcher.close()
    context.close()
    # AND deleting it through the API leaves its watch link dead
    assert requests.delete(f"{api}/api/videos/{video_id}", headers={"Authorization": f"Bearer {key}"},
                           timeout=10).status_code == 204
    wait_for(lambda: requests.get(video["watch_url"], timeout=10).status_code == 404, timeout=30,
             what="the watch link gone")
