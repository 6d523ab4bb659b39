"""Captions in a real browser (headless Chromium through Playwright) on `make run`'s stack: a page whose HTML5
``<video>`` carries a ``<track>`` is captured by the real worker (yt-dlp reads the track), and both the watch page
and the web library's player show the caption's cue while the video plays. Screenshots: .artifacts/browser/."""

from __future__ import annotations

import pytest
import requests

from tests import media as test_media
from tests.e2e.conftest import wait_for
from tests.static_site import serve

pytestmark = pytest.mark.e2e
DEADLINE_MS = 90_000
CUE = "A platypus explains sourdough"
VTT = f"WEBVTT\n\n00:00:00.000 --> 00:00:05.500\n{CUE}\n"
SHOWN = """video => { const track = video.textTracks[0];
    return track && track.mode === "showing" && track.activeCues && track.activeCues.length
        ? track.activeCues[0].text : null; }"""


@pytest.fixture(scope="module")
def captioned_page(tmp_path_factory):
    root = tmp_path_factory.mktemp("captioned-site")
    test_media.make_clip(root / "clip.mp4", seconds=6, width=320, height=240)
    (root / "en.vtt").write_text(VTT)
    (root / "index.html").write_text(
        '<!doctype html><html><head><title>Platypus baking</title></head><body><video controls src="/clip.mp4">'
        '<track kind="subtitles" srclang="en" label="English" src="/en.vtt"></video></body></html>')
    with serve(root) as base_url:
        yield f"{base_url}/index.html"


def ready_video(stack: dict, url: str) -> dict:
    headers = {"Authorization": f"Bearer {stack['api_key']}"}
    answer = requests.post(f"{stack['api_url']}/api/capture", json={"url": url}, headers=headers, timeout=30)
    assert answer.status_code in (200, 202), answer.text
    video_url = f"{stack['api_url']}/api/videos/{answer.json()['video_id']}"
    return wait_for(lambda: (v := requests.get(video_url, headers=headers, timeout=10).json())["status"] == "ready"
                    and v, timeout=120, what="the captioned capture ready")


def shows_cue(page, selector: str) -> str:
    page.eval_on_selector(selector, "video => { video.muted = true; video.play(); }")
    page.wait_for_function(f"({SHOWN})(document.querySelector('{selector}'))", timeout=DEADLINE_MS)
    return page.eval_on_selector(selector, SHOWN)


def test_the_watch_page_and_the_library_player_show_the_captions(local_stack, browser, captioned_page, screenshot):
    # GIVEN a page with a captioned <video>, captured through the stack's real worker
    video = ready_video(local_stack, captioned_page)
    assert video["captions"] == {"en": {"origin": "uploaded", "source_language": "en"}}
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    # WHEN its watch page plays, THEN the English track is on and shows the cue
    page.goto(video["watch_url"])
    assert shows_cue(page, "#player") == CUE
    screenshot(page, "5-watch-page-captions")
    # WHEN the owner plays it in the web library, THEN the library's player shows the same cue
    page.goto(f"{local_stack['api_url']}/")
    page.fill("#api-key", local_stack["api_key"])
    page.click("#sign-in-form button")
    page.wait_for_selector(f"#grid .card[data-video='{video['video_id']}'][data-status=ready]")
    page.locator(f"#grid .card[data-video='{video['video_id']}'] .thumb").click()
    assert shows_cue(page, "#player") == CUE
    assert page.eval_on_selector("#player", "video => video.textTracks[0].language") == "en"
    screenshot(page, "6-library-player-captions")
    context.close()
