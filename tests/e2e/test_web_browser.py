"""A person in a real browser (headless Chromium through Playwright) on `make run`'s stack: sign in, paste a
sample link, watch the progress move, see the thumbnail, play and seek (the player's answers are 206 Range answers
of the signed URL), find it, delete it; and the watch link of the bot's final message playing on a phone-sized
screen without any key. Screenshots and figures: .artifacts/browser/."""

from __future__ import annotations

import json
import re
import time

import pytest
import requests

from tests.e2e.conftest import STACK_BOT_USER, STACK_WEBHOOK_SECRET
from tests.fake_telegram import text_update

pytestmark = pytest.mark.e2e
DEADLINE_MS = 90_000
PHONE = {"width": 390, "height": 844}
BOT_UPDATE = 920_001  # update ids are handled once per stack, whichever test sends them


def wait_playing(page, selector: str) -> float:
    """Play the video (muted, as autoplay rules want) until it reached ``canplay`` and its time advances."""
    page.eval_on_selector(selector, """video => { video.muted = true; video.play(); }""")
    page.wait_for_function(f"document.querySelector('{selector}').readyState >= 3", timeout=DEADLINE_MS)
    page.wait_for_function(f"document.querySelector('{selector}').currentTime > 0.5", timeout=DEADLINE_MS)
    return page.eval_on_selector(selector, "video => video.currentTime")


def seek_to_middle(page, selector: str, media_responses: list) -> list:
    """Seek to the middle and play on from there; every answer that fed the player was a 206 (a Range answer from
    the signed URL). A 6 s sample is read whole by Chromium's first range request, so the seek is served from
    that answer; curl's mid-file range is checked in test_api_stack.py."""
    page.eval_on_selector(selector, "video => { video.currentTime = video.duration / 2; video.play(); }")
    page.wait_for_function(f"""(() => {{ const v = document.querySelector('{selector}');
        return !v.seeking && v.currentTime >= v.duration / 2 + 0.5; }})()""", timeout=DEADLINE_MS)
    assert media_responses and all(r["status"] == 206 for r in media_responses), media_responses
    return media_responses


def watch_media(page) -> list:
    """Every answer of the media host (moto's S3 on the stack) with its status and the first byte served."""
    seen = []

    def record(response):
        if "/videos/" in response.url and "X-Amz-Signature" in response.url:
            match = re.match(r"bytes (\d+)-", response.headers.get("content-range", ""))
            seen.append({"status": response.status, "start": int(match[1]) if match else 0})

    page.on("response", record)
    return seen


def test_a_person_saves_watches_finds_and_deletes_a_video(local_stack, browser, screenshot, figures):
    api, key = local_stack["api_url"], local_stack["api_key"]
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    media = watch_media(page)
    page.on("dialog", lambda dialog: dialog.accept())  # "Delete …? This cannot be undone."

    # GIVEN the web library: a wrong key gets a clear message, the right one signs in
    page.goto(f"{api}/")
    page.fill("#api-key", "prsnl_not-a-key")
    page.click("#sign-in-form button")
    page.wait_for_selector("#sign-in-error:not([hidden])")
    assert "not accepted" in page.inner_text("#sign-in-error")
    page.fill("#api-key", key)
    page.click("#sign-in-form button")
    page.wait_for_selector("#library:not([hidden])")

    # WHEN a sample link is pasted (served slowly, so that the progress can be seen moving)
    link = local_stack["samples"][1].replace("/files/", "/slow/") + "?bps=150000"
    page.fill("#links", link)
    pasted = time.monotonic()
    page.click("#capture-form button")
    # THEN its job shows its stage and figures live, without reloading
    states = set()
    page.wait_for_selector("#jobs li")
    deadline = time.monotonic() + DEADLINE_MS / 1000
    while page.get_attribute("#jobs li", "data-status") != "succeeded" and time.monotonic() < deadline:
        states.add(page.inner_text("#jobs li").split(": ", 1)[-1])
        time.sleep(0.2)
    screenshot(page, "1-captured")
    downloading = [s for s in states if s.startswith("downloading")]
    assert len(downloading) >= 2 and any("%" in s and "/s" in s and "left" in s for s in downloading), states
    # AND the card shows the thumbnail, the ready badge and the duration
    card = page.locator("#grid .card[data-status=ready]").first
    card.locator(".thumb img").wait_for()
    page.wait_for_function("document.querySelector('#grid .card[data-status=ready] .thumb img').naturalWidth > 0")
    assert card.locator(".badge").inner_text() == "ready" and card.locator(".length").inner_text() == "0:06"

    # WHEN it is opened: the player plays, and a seek to the middle is served with a 206
    card.locator(".thumb").click()
    wait_playing(page, "#player")
    figures["paste_to_playing_seconds"] = round(time.monotonic() - pasted, 2)
    figures["player_media_answers"] = seek_to_middle(page, "#player", media)
    screenshot(page, "2-playing")
    page.click("#player-close")

    # WHEN it is searched for by a word of its title (the session's stack may hold other captures of the sample:
    # each card shown has the word), and then by a word it does not have
    video_id = card.get_attribute("data-video")
    word = card.locator("h3").inner_text().split()[0]
    page.fill("#search", word.upper())
    page.click("#search-form button")
    page.wait_for_function("""([id, word]) => {
        const cards = [...document.querySelectorAll('#grid .card')];
        return cards.some(c => c.dataset.video === id)
            && cards.every(c => c.querySelector('h3').innerText.toLowerCase().includes(word.toLowerCase()));
    }""", arg=[video_id, word])
    page.fill("#search", "no-such-word")
    page.click("#search-form button")
    page.wait_for_selector("#empty:not([hidden])")
    page.fill("#search", "")
    page.click("#search-form button")
    page.wait_for_selector(f"#grid .card[data-video='{video_id}']")

    # WHEN it is deleted (after the confirmation)
    page.locator(f"#grid .card[data-video='{video_id}'] button.danger").click()
    page.wait_for_selector(f"#grid .card[data-video='{video_id}']", state="detached")
    screenshot(page, "3-deleted")
    gone = requests.get(f"{api}/api/videos/{video_id}", headers={"Authorization": f"Bearer {key}"}, timeout=10)
    assert gone.status_code == 404

    # AND signing out forgets the key
    page.click("#sign-out")
    assert page.evaluate("localStorage.getItem('prsnl.apiKey')") is None
    context.close()


def test_the_bot_link_plays_on_a_phone_without_a_key(local_stack, browser, screenshot, figures):
    # GIVEN a link sent to the stack's bot (its webhook), and the worker's final message
    telegram = local_stack["telegram"]
    sample = local_stack["samples"][0] + "?via=bot"
    answer = requests.post(f"{local_stack['api_url']}/telegram/webhook", timeout=30,
                           data=json.dumps(text_update(BOT_UPDATE, STACK_BOT_USER, f"keep {sample}")),
                           headers={"Content-Type": "application/json",
                                    "X-Telegram-Bot-Api-Secret-Token": STACK_WEBHOOK_SECRET})
    assert answer.status_code == 200 and answer.json()["handled"] is True
    final = telegram.wait_for(lambda: next((t for t in telegram.texts(STACK_BOT_USER) if t.startswith("✅")), None),
                              timeout=90)
    [watch_url] = re.findall(r"▶️ (\S+)", final)
    assert telegram.wait_for(lambda: telegram.calls_of("sendVideo"), timeout=30)[0]["caption"]
    # WHEN it is opened on a phone-sized screen, with no key anywhere
    phone = browser.new_context(viewport=PHONE, is_mobile=True, has_touch=True)
    page = phone.new_page()
    media = watch_media(page)
    response = page.goto(watch_url)
    figures["watch_page_bytes"] = len(response.body())
    # THEN it plays, seeks with a 206, and fits the screen
    assert wait_playing(page, "#player") > 0.5
    seek_to_middle(page, "#player", media)
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    assert page.get_attribute("meta[property='og:video']", "content") == f"{watch_url}/video"
    screenshot(page, "4-watch-page-phone")
    phone.close()


def test_a_failed_capture_is_retried_from_its_card_and_storage_shows_day_by_day(stack_aws_env, browser, screenshot):
    import shutil
    from datetime import timedelta
    from pathlib import Path

    from chalicelib import wiring
    from chalicelib.ops import trends
    from tests.fakes import FakeClock

    stack = stack_aws_env
    api, key = stack["api_url"], stack["api_key"]
    headers = {"Authorization": f"Bearer {key}"}
    samples = Path(stack["env"]["PRSNL_LOCAL_DIR"]) / "samples"
    # GIVEN a capture that failed (its link answered 404)
    sample = stack["samples"][0]
    name = f"retry-{int(time.time() * 1000)}.mp4"
    link = f"{sample.rsplit('/', 1)[0]}/{name}"
    video_id = requests.post(f"{api}/api/capture", json={"url": link, "title": "Second chance"}, headers=headers,
                             timeout=30).json()["video_id"]
    deadline = time.monotonic() + DEADLINE_MS / 1000
    while requests.get(f"{api}/api/videos/{video_id}", headers=headers, timeout=10).json()["status"] != "failed":
        assert time.monotonic() < deadline, "the capture of a missing file did not fail"
        time.sleep(0.3)
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    page.goto(f"{api}/")
    page.evaluate(f"localStorage.setItem('prsnl.apiKey', {json.dumps(key)})")
    page.reload()
    card = page.locator(f"#grid .card[data-video='{video_id}']")
    card.wait_for()
    assert card.get_attribute("data-status") == "failed" and "Not saved" in card.inner_text()
    # WHEN the file is there and Retry is pressed on the failed card
    shutil.copy(samples / sample.rsplit("/", 1)[1], samples / name)
    card.get_by_role("button", name="Retry").click()
    # THEN its job is followed to the end, and the same card is ready, with no Retry any more
    page.wait_for_selector("#jobs li[data-status=succeeded]", timeout=DEADLINE_MS)
    page.wait_for_selector(f"#grid .card[data-video='{video_id}'][data-status=ready]", timeout=DEADLINE_MS)
    assert page.locator(f"#grid .card[data-video='{video_id}'] button", has_text="Retry").count() == 0
    assert page.locator("#grid .card", has_text="Second chance").count() == 1
    screenshot(page, "4-retried")

    # GIVEN storage snapshots of three days ago and of today (the daily schedule missed the two days between)
    for back in (3, 0):
        wiring.override(clock=FakeClock(later=-timedelta(days=back)))
        trends.snapshot(services=wiring.services())
    wiring.reset()
    # WHEN the library is opened again
    page.reload()
    # THEN the storage chart has a bar for each of the 30 days: the two snapshots full height, the rest gaps
    page.wait_for_function("document.querySelectorAll('#trend rect').length === 30", timeout=DEADLINE_MS)
    bars = page.eval_on_selector_all("#trend rect", """rects => rects.map(r => ({day: r.dataset.day,
        kind: r.getAttribute('class'), height: Number(r.getAttribute('height')),
        title: r.querySelector('title').textContent}))""")
    days = [bar["day"] for bar in bars]
    assert days == sorted(days) and len(set(days)) == 30
    assert [bar["kind"] for bar in bars] == ["gap"] * 26 + ["day", "gap", "gap", "day"]
    assert bars[-1]["height"] == bars[-4]["height"] > 10 * bars[-2]["height"]
    assert re.fullmatch(rf"{days[-1]}: [\d.]+ (KB|MB), [1-9]\d* videos", bars[-1]["title"]), bars[-1]["title"]
    assert bars[-2]["title"] == f"{days[-2]}: no snapshot"
    assert page.inner_text("#storage-now").startswith("· now ")
    screenshot(page, "5-storage-trend")
    context.close()
    assert requests.delete(f"{api}/api/videos/{video_id}", headers=headers, timeout=10).status_code == 204


def ready_video(stack: dict, url: str) -> dict:
    """A capture of ``url`` through the stack's API, once it is ready."""
    headers = {"Authorization": f"Bearer {stack['api_key']}"}
    video_id = requests.post(f"{stack['api_url']}/api/capture", json={"url": url}, headers=headers,
                             timeout=30).json()["video_id"]
    deadline = time.monotonic() + DEADLINE_MS / 1000
    while (video := requests.get(f"{stack['api_url']}/api/videos/{video_id}", headers=headers,
                                 timeout=30).json())["status"] != "ready":
        assert time.monotonic() < deadline and video["status"] != "failed", video
        time.sleep(0.5)
    return video


def test_the_watch_page_asks_its_link_again_when_the_cdn_refuses_its_signed_url(local_stack, browser):
    # GIVEN a ready video's watch page, and a CDN that refuses the signed URL once the player is under way (as
    # CloudFront refuses one past its lifetime, after a long pause; moto's S3 checks no lifetime, so the browser
    # refuses it here)
    video = ready_video(local_stack, local_stack["samples"][0] + "?via=expired-link")
    page = browser.new_page()
    refused, links = [], []
    page.on("request", lambda request: links.append(request.url) if request.url.endswith("/video") else None)

    def expired(route):
        if refused or route.request.headers.get("range", "bytes=0-") == "bytes=0-":
            return route.fallback()  # the player's first request (its link is fresh), and any after the refusal
        refused.append(route.request.url)
        return route.fulfill(status=403, body="Request has expired")

    page.route(lambda url: "/videos/" in url and "X-Amz-Signature" in url, expired)
    # WHEN it is opened and played
    page.goto(video["watch_url"])
    # THEN the player asked its own link again for a fresh signed URL, and plays on
    assert wait_playing(page, "#player") > 0.5
    assert len(refused) == 1 and len(links) >= 2, (refused, links)
    page.close()
