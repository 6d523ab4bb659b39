"""The Telegram bot through the real app's webhook, the real worker handler and a fake Bot API server:
links, videos and photos become captures whose one reply is edited until the final state."""

from __future__ import annotations

import json
import re
from datetime import timedelta
from urllib.parse import urlsplit

import pytest

from chalicelib import aws, wiring
from chalicelib.ops import maintenance
from chalicelib.records import jobs, videos
from chalicelib.records.models import IdempotencyKey, Job, User, Video
from tests.conftest import TELEGRAM_USER, WEBHOOK_SECRET
from tests.fake_telegram import TOKEN, button_update, photo_update, text_update, video_update
from tests.fakes import FakeClock, WorkerDied, die_at_a_dynamodb_write
from tests.media import ffmpeg

STRANGER = 999


@pytest.fixture(autouse=True)
def loopback_allowed(settings_env):
    settings_env(PRSNL_ALLOW_LOOPBACK_URLS="true")


def post_update(client, update, *, secret: str | None = WEBHOOK_SECRET, path: str = "/telegram/webhook"):
    headers = {"Content-Type": "application/json"}
    if secret is not None:
        headers["X-Telegram-Bot-Api-Secret-Token"] = secret
    body = update if isinstance(update, str) else json.dumps(update)
    return client.http.post(path, headers=headers, body=body)


def videos_of(telegram_id: int) -> list[Video]:
    return [v for v in Video.scan() if v.owner_id == f"telegram-{telegram_id}"]


def test_link_message_ends_with_the_final_edit_holding_the_link(client, telegram, drain, media_server):
    # GIVEN a whitelisted user sends a message with a link
    link = media_server.url("files", "clip.mp4")
    response = post_update(client, text_update(1, TELEGRAM_USER, f"save this {link} please"))
    # THEN the webhook answers 200 with one "queued" reply, and only the worker downloads
    assert response.status_code == 200, response.body
    assert response.json_body == {"ok": True, "handled": True}
    [reply] = telegram.calls_of("sendMessage")
    assert reply["text"].startswith("⏳ Queued") and link in reply["text"]
    assert reply["reply_parameters"]["message_id"] == 1
    # WHEN the worker runs the job
    assert drain() == 1
    # THEN that same reply was edited through the stages to the final state with the link and the watch link
    [video] = videos_of(TELEGRAM_USER)
    assert video.status == "ready" and video.source == "telegram"
    [final] = telegram.texts(TELEGRAM_USER)[:1]
    assert final.startswith("✅ Saved") and link in final
    edits = [e["text"] for e in telegram.calls_of("editMessageText")]
    stages = ("🔎 Checking", "⬇️ Downloading", "⚙️ Processing", "⬆️ Uploading")
    told = [stage for text in edits for stage in stages if text.startswith(stage)]
    assert list(dict.fromkeys(told)) == list(stages), edits  # each stage told, in order (every write is an edit)
    assert edits[-1] == final
    # AND its watch link plays without any key
    [watch_url] = re.findall(r"▶️ (\S+)", final)
    assert watch_url.startswith("http://127.0.0.1:8000/watch/")
    page = client.http.get(urlsplit(watch_url).path)
    assert page.status_code == 200 and b"<video" in page.body
    # AND the video itself was sent under it (it fits the upload limit), with its facts, thumbnail and title
    [sent] = telegram.calls_of("sendVideo")
    assert sent["reply_parameters"]["message_id"] == min(message_id for _, message_id in telegram.messages)
    assert len(sent["video"]) == video.filesize and sent["video"][4:8] == b"ftyp"
    assert (sent["duration"], sent["width"], sent["height"]) == (round(video.duration), video.width, video.height)
    assert sent["thumbnail"][:2] == b"\xff\xd8" and sent["supports_streaming"] is True
    assert sent["caption"] == video.title
    assert telegram.calls_of("sendPhoto") == []


def test_a_video_over_the_upload_limit_gets_its_link_and_size_only(client, telegram, drain, media_server,
                                                                    settings_env):
    # GIVEN an upload limit smaller than the video
    settings_env(PRSNL_TELEGRAM_UPLOAD_LIMIT="1000")
    post_update(client, text_update(1, TELEGRAM_USER, media_server.url("files", "clip.mp4")))
    # WHEN the worker has made it
    assert drain() == 1
    # THEN the final message says it is too big to send, with its size and the watch link; the thumbnail goes under
    [video] = videos_of(TELEGRAM_USER)
    final = telegram.texts(TELEGRAM_USER)[0]
    assert "too big to send here" in final and "KB" in final and "/watch/" in final
    assert telegram.calls_of("sendVideo") == []
    [photo] = telegram.calls_of("sendPhoto")
    assert len(photo["photo"]) > 1000 and photo["caption"] == (video.title or "")


def test_webhook_is_served_on_the_old_backend_path_too(client, telegram, drain):
    response = post_update(client, text_update(2, TELEGRAM_USER, "/help"), path="/api/telegram/webhook")
    assert response.status_code == 200
    [reply] = telegram.calls_of("sendMessage")
    assert f"Your Telegram id is {TELEGRAM_USER}" in reply["text"]


def test_video_message_ends_as_a_ready_video(client, telegram, drain, media_dir):
    # GIVEN a video sent to the bot (the Bot API holds its bytes)
    content = (media_dir / "clip.webm").read_bytes()
    telegram.add_file("video-file-1", content, unique_id="vid-u1", name="holiday.webm")
    update = video_update(3, TELEGRAM_USER, file_id="video-file-1", unique_id="vid-u1", size=len(content),
                          caption="Holiday")
    # WHEN it reaches the webhook and the worker runs
    assert post_update(client, update).status_code == 200
    assert telegram.calls_of("getFile") == []  # the webhook never downloads
    assert drain() == 1
    # THEN the video is ready as an MP4 with thumbnails, and the reply says so
    [video] = videos_of(TELEGRAM_USER)
    assert video.status == "ready", (video.error_code, video.error_message)
    assert video.kind == "video" and video.platform == "telegram" and video.title == "Holiday"
    assert video.file_key.endswith(".mp4") and set(video.thumbnails.as_dict()) == {"small", "medium", "large"}
    assert video.codec == "h264" and video.width == 320
    final = telegram.texts(TELEGRAM_USER)[0]
    assert final.startswith("✅ Saved: Holiday") and "0:02" in final
    # AND no record carries the file URL (it holds the bot token): the job keeps the file_id only
    [job] = Job.scan()
    assert job.params["telegram"]["file"]["file_id"] == "video-file-1"
    records = json.dumps([video.attribute_values, job.attribute_values], default=str)
    assert TOKEN not in records and TOKEN.split(":")[1] not in records


def test_photo_is_stored_as_an_image_capture_with_thumbnails(client, telegram, drain, tmp_path):
    # GIVEN a photo (a JPEG) sent to the bot
    ffmpeg("-f", "lavfi", "-i", "testsrc2=size=640x480", "-frames:v", "1", str(tmp_path / "photo.jpg"))
    content = (tmp_path / "photo.jpg").read_bytes()
    telegram.add_file("photo-1", content, unique_id="ph-u1", name="photo.jpg")
    post_update(client, photo_update(4, TELEGRAM_USER, file_id="photo-1", unique_id="ph-u1", size=len(content)))
    assert drain() == 1
    # THEN the largest size is kept byte for byte as the image's file, with three thumbnails
    [video] = videos_of(TELEGRAM_USER)
    assert video.status == "ready" and video.kind == "image"
    assert video.file_key.endswith(f"{video.video_id}.jpg") and (video.width, video.height) == (640, 480)
    s3 = aws.client("s3")
    bucket = wiring.services().settings.bucket
    stored = s3.get_object(Bucket=bucket, Key=video.file_key)
    assert stored["Body"].read() == content and stored["ContentType"] == "image/jpeg"
    assert set(video.thumbnails.as_dict()) == {"small", "medium", "large"}
    assert telegram.texts(TELEGRAM_USER)[0].startswith("✅ Saved: Your photo")


def test_file_over_the_public_api_limit_gets_a_clear_reply(client, telegram, drain, settings_env):
    # GIVEN the public Bot API's 20 MB download limit and a 25 MB video
    settings_env(PRSNL_TELEGRAM_DOWNLOAD_LIMIT=str(20 * 1024 * 1024))
    size = 25 * 1024 * 1024
    post_update(client, video_update(5, TELEGRAM_USER, file_id="big", unique_id="big-u", size=size))
    # THEN the bot says why and what to do, and nothing is queued or fetched
    [reply] = telegram.calls_of("sendMessage")
    assert "25.0 MB" in reply["text"] and "20.0 MB" in reply["text"] and "link" in reply["text"]
    assert telegram.calls_of("getFile") == []
    assert drain() == 0
    assert videos_of(TELEGRAM_USER) == []


def test_large_file_is_fetched_when_a_self_hosted_api_lifts_the_limit(client, telegram, drain, media_dir):
    # GIVEN a self-hosted Bot API (no download limit) and a file Telegram says is 25 MB
    telegram.download_limit = None
    content = (media_dir / "clip.mp4").read_bytes()
    telegram.add_file("big-ok", content, unique_id="big-ok-u", name="big.mp4")
    post_update(client, video_update(6, TELEGRAM_USER, file_id="big-ok", unique_id="big-ok-u",
                                     size=25 * 1024 * 1024))
    assert drain() == 1
    assert [v.status for v in videos_of(TELEGRAM_USER)] == ["ready"]


def test_user_not_on_the_whitelist_gets_one_polite_refusal(client, telegram, drain, media_server):
    response = post_update(client, text_update(7, STRANGER, f"{media_server.url('files', 'clip.mp4')}"))
    assert response.status_code == 200
    [reply] = telegram.calls_of("sendMessage")
    assert str(STRANGER) in reply["text"] and "private bot" in reply["text"]
    # nothing stored: no user, no video, no job
    assert drain() == 0
    assert list(User.scan()) == [] and list(Video.scan()) == []


@pytest.mark.parametrize("secret, status", [(None, 401), ("wrong-secret", 403), (WEBHOOK_SECRET + "x", 403)])
def test_webhook_refused_without_the_right_secret(client, telegram, drain, media_server, secret, status):
    update = text_update(8, TELEGRAM_USER, media_server.url("files", "clip.mp4"))
    response = post_update(client, update, secret=secret)
    assert response.status_code == status
    assert response.json_body["error"]["code"] in ("missing_secret_token", "wrong_secret_token")
    assert telegram.calls == [] and drain() == 0 and list(IdempotencyKey.scan()) == []


def test_webhook_refused_when_no_secret_is_configured(client, telegram, settings_env):
    settings_env(PRSNL_TELEGRAM_WEBHOOK_SECRET="")
    response = post_update(client, text_update(9, TELEGRAM_USER, "/help"), secret="")
    assert response.status_code in (401, 403)
    assert telegram.calls == []


def test_same_update_twice_makes_one_capture(client, telegram, drain, media_server):
    update = text_update(10, TELEGRAM_USER, media_server.url("files", "clip.mp4"))
    first, second = post_update(client, update), post_update(client, update)
    assert first.status_code == second.status_code == 200
    assert (first.json_body["handled"], second.json_body["handled"]) == (True, False)
    assert len(telegram.calls_of("sendMessage")) == 1
    assert drain() == 1 and len(videos_of(TELEGRAM_USER)) == 1


def test_link_is_captured_once_when_the_bot_api_answers_429_then_200(client, telegram, drain, media_server):
    # GIVEN Telegram's flood control refusing the bot's first reply (429, retry after 1 s)
    telegram.flood_control("sendMessage", times=1, retry_after=1)
    # WHEN a link arrives
    response = post_update(client, text_update(40, TELEGRAM_USER, media_server.url("files", "clip.mp4")))
    # THEN the reply was sent on the second try, the link captured once and the update marked handled
    assert response.status_code == 200 and response.json_body["handled"] is True
    assert len(telegram.calls_of("sendMessage")) == 2
    assert drain() == 1 and len(videos_of(TELEGRAM_USER)) == 1


def test_update_whose_reply_keeps_failing_is_delivered_again_and_captured_once(client, telegram, drain,
                                                                               media_server):
    # GIVEN a Bot API that refuses every try of the first delivery's reply
    telegram.flood_control("sendMessage", times=3, retry_after=1)
    update = text_update(41, TELEGRAM_USER, media_server.url("files", "clip.mp4"))
    # WHEN the update arrives, then Telegram delivers it again (it does until a 2xx)
    first = post_update(client, update)
    second = post_update(client, update)
    # THEN the first delivery answered 503 and was not marked handled; the second saved the link, once
    assert first.status_code == 503 and first.json_body["error"]["code"] == "update_not_handled"
    assert second.status_code == 200 and second.json_body["handled"] is True
    assert drain() == 1 and len(videos_of(TELEGRAM_USER)) == 1
    assert post_update(client, update).json_body["handled"] is False  # a third delivery: already handled


def changed(update: dict, **fields) -> str:
    """An update's body with some of its message's fields replaced."""
    return json.dumps({**update, "message": {**update["message"], **fields}})


@pytest.mark.parametrize("body", [
    "not json", "", "[1, 2]", json.dumps({"no_update_id": 1}), json.dumps({"update_id": "11"}),
    json.dumps({"update_id": 12, "message": "not a message"}),
    json.dumps({"update_id": 13, "message": {"message_id": 1}}),
    json.dumps({"update_id": 10**30}),  # no key could keep it as handled
    # fields of the wrong type (python-telegram-bot's de_json checks none)
    changed(text_update(15, TELEGRAM_USER, "hi"), text=5),
    changed(text_update(16, TELEGRAM_USER, "hi"), entities=[{"type": "text_link", "offset": 0, "length": 2}]),
    changed(text_update(17, TELEGRAM_USER, "hi"), entities=[{"type": "text_link", "offset": 0, "length": 2, "url": 7}]),
    changed(text_update(18, TELEGRAM_USER, "hi"), entities=[{"type": "url", "offset": "a", "length": 2}]),
    changed(photo_update(19, TELEGRAM_USER, file_id="f", unique_id="u", size=10), caption=5),
    json.dumps(button_update(20, TELEGRAM_USER, {"message_id": 5, "date": 0, "chat": {"id": TELEGRAM_USER,
                                                                                      "type": "private"}}, 5)),
])
def test_malformed_update_is_acknowledged_and_ignored(client, telegram, drain, body):
    response = post_update(client, body)
    assert response.status_code == 200, response.body
    assert response.json_body == {"ok": True, "handled": False}
    assert telegram.calls_of("sendMessage") == [] and drain() == 0


def test_link_that_cannot_be_saved_gets_the_reason_in_its_reply(client, telegram, drain):
    # GIVEN a text link (an entity with its own URL) that is not http(s)
    text = "my file"
    update = text_update(14, TELEGRAM_USER, text, entities=[
        {"type": "text_link", "offset": 3, "length": 4, "url": "ftp://example.com/a.mp4"}])
    post_update(client, update)
    # THEN the one reply says it in plain words, and nothing is queued
    assert telegram.texts(TELEGRAM_USER) == ["❌ Not saved: this link is not a video I can save.\n"
                                             "ftp://example.com/a.mp4"]
    assert drain() == 0


def test_failed_job_ends_with_the_reason_in_plain_words(client, telegram, drain, media_server):
    post_update(client, text_update(15, TELEGRAM_USER, media_server.url("files", "corrupt.mp4")))
    drain()
    [video] = videos_of(TELEGRAM_USER)
    assert video.status == "failed"
    assert telegram.texts(TELEGRAM_USER)[0].startswith("❌ Not saved: the file is damaged or is not a video.")


def failed_reply(client, telegram, drain, link: str) -> tuple[Video, dict]:
    """A link sent to the bot whose capture failed: the video and the bot's reply as the fake holds it."""
    post_update(client, text_update(40, TELEGRAM_USER, link))
    drain()
    [video] = videos_of(TELEGRAM_USER)
    assert video.status == "failed"
    [reply] = [m for (chat, _), m in sorted(telegram.messages.items()) if chat == TELEGRAM_USER]
    return video, json.loads(json.dumps(reply))  # as Telegram sends it in a callback: a copy of that moment


def test_a_failure_reply_has_a_retry_button_that_saves_the_same_video(client, telegram, drain, later_link):
    # GIVEN a link whose capture failed (404): its reply says why, with a Retry button naming the video
    link, put = later_link
    video, reply = failed_reply(client, telegram, drain, link)
    assert reply["text"] == f"❌ Not saved: it does not exist any more.\n{link}"
    [[button]] = reply["reply_markup"]["inline_keyboard"]
    assert button == {"text": "🔁 Retry", "callback_data": f"retry:{video.video_id}"}
    # WHEN the file is there and the button is pressed
    put()
    response = post_update(client, button_update(41, TELEGRAM_USER, reply, button["callback_data"]))
    # THEN the press is answered, and the reply says queued with its button gone
    assert response.status_code == 200 and response.json_body == {"ok": True, "handled": True}
    [answer] = telegram.calls_of("answerCallbackQuery")
    assert answer["callback_query_id"] == "cq-41" and answer["text"] == "Trying again…"
    message = telegram.messages[(TELEGRAM_USER, reply["message_id"])]
    assert message["text"] == f"⏳ Queued…\n{link}" and "reply_markup" not in message
    # AND the worker saves the same video, and that same reply ends with it
    assert drain() == 1
    [again] = videos_of(TELEGRAM_USER)
    assert (again.video_id, again.status) == (video.video_id, "ready") and again.job_id != video.job_id
    assert [job.job_id for job in Job.scan()] == [again.job_id]
    final = telegram.messages[(TELEGRAM_USER, reply["message_id"])]
    assert final["text"].startswith("✅ Saved") and link in final["text"] and "reply_markup" not in final


def test_a_retry_button_pressed_twice_queues_once(client, telegram, drain, later_link):
    link, put = later_link
    video, reply = failed_reply(client, telegram, drain, link)
    put()
    data = f"retry:{video.video_id}"
    post_update(client, button_update(42, TELEGRAM_USER, reply, data))
    post_update(client, button_update(43, TELEGRAM_USER, reply, data))  # the same button, before the edit arrived
    first, second = telegram.calls_of("answerCallbackQuery")
    assert (first["text"], second["text"]) == ("Trying again…", "It is not failed any more: nothing to retry.")
    assert telegram.messages[(TELEGRAM_USER, reply["message_id"])]["text"] == f"⏳ Queued…\n{link}"
    assert drain() == 1 and [v.status for v in videos_of(TELEGRAM_USER)] == ["ready"]


def test_a_retry_button_pressed_by_someone_not_allowed_does_nothing(client, telegram, drain, later_link):
    link, put = later_link
    video, reply = failed_reply(client, telegram, drain, link)
    put()
    response = post_update(client, button_update(44, STRANGER, reply, f"retry:{video.video_id}"))
    assert response.status_code == 200
    [answer] = telegram.calls_of("answerCallbackQuery")
    assert answer["show_alert"] is True and "private bot" in answer["text"]
    assert drain() == 0 and videos.get(video.video_id).status == "failed"
    assert telegram.messages[(TELEGRAM_USER, reply["message_id"])]["text"] == reply["text"]


def test_a_retry_button_refused_keeps_the_failure_and_its_button(client, telegram, drain, later_link):
    # GIVEN a failed capture, and a user whose quota is used up by the time they press Retry
    from chalicelib.records import quotas

    link, _ = later_link
    video, reply = failed_reply(client, telegram, drain, link)
    owner = User.get(video.owner_id)
    quotas.settle(owner.user_id, reserved=0, actual=owner.bytes_available)
    post_update(client, button_update(45, TELEGRAM_USER, reply, f"retry:{video.video_id}"))
    # THEN the press is answered with the reason, and the reply is the failure with its button again
    [answer] = telegram.calls_of("answerCallbackQuery")
    assert answer["text"] == "Not retried: your storage is full (see /quota)"
    message = telegram.messages[(TELEGRAM_USER, reply["message_id"])]
    assert message["text"] == reply["text"] and message["reply_markup"] == reply["reply_markup"]
    assert drain() == 0 and videos.get(video.video_id).status == "failed"


def test_several_links_in_one_message_each_get_a_reply(client, telegram, drain, media_server):
    first, second = media_server.url("files", "clip.mp4"), media_server.url("files", "clip.mkv")
    post_update(client, text_update(16, TELEGRAM_USER, f"{first} and {second} and {first}"))
    assert len(telegram.calls_of("sendMessage")) == 2
    assert drain() == 2
    finals = telegram.texts(TELEGRAM_USER)
    assert [f.startswith("✅ Saved") for f in finals] == [True, True]
    assert first in finals[0] and second in finals[1]


def test_commands_answer_from_the_same_records_as_the_api(client, telegram, drain, media_server):
    link = media_server.url("files", "clip.mp4")
    post_update(client, text_update(17, TELEGRAM_USER, link))
    post_update(client, text_update(18, TELEGRAM_USER, "/status"))
    assert "In progress:\n⏳ Queued" in telegram.texts(TELEGRAM_USER)[1]
    drain()
    for update_id, command in enumerate(("/list", "/quota", "/status", "/start", "/help@prsnl_test_bot"), 19):
        post_update(client, text_update(update_id, TELEGRAM_USER, command))
    listing, quota, status, start, help_ = telegram.texts(TELEGRAM_USER)[2:]
    assert listing.startswith("Your recent captures:\n✅") and "http://127.0.0.1:8000/watch/" in listing
    assert quota.startswith("You use ") and "in 1 captures" in quota
    assert status == "Nothing is being saved right now."
    assert start == help_ and "/list" in help_
    # the same person on the API: the video belongs to the user made for this Telegram id
    [user] = User.scan()
    assert user.user_id == f"telegram-{TELEGRAM_USER}" and user.telegram_id == TELEGRAM_USER


def test_same_link_sent_again_gets_the_existing_video(client, telegram, drain, media_server):
    link = media_server.url("files", "clip.mp4")
    post_update(client, text_update(25, TELEGRAM_USER, link))
    drain()
    post_update(client, text_update(26, TELEGRAM_USER, link))
    assert telegram.texts(TELEGRAM_USER)[1].startswith("You saved this before.\n✅ Saved")
    assert drain() == 0 and len(videos_of(TELEGRAM_USER)) == 1


def test_linked_user_captures_into_their_own_account(client, telegram, drain, user, media_server):
    from chalicelib.records import users

    # GIVEN the API user alice linked to a Telegram id (the CLI's link-telegram)
    users.link_telegram(user.user_id, TELEGRAM_USER)
    post_update(client, text_update(27, TELEGRAM_USER, media_server.url("files", "clip.mp4")))
    drain()
    # THEN the capture is alice's (same quota and videos as on the API), and no other user was made
    assert [v.owner_id for v in Video.scan()] == [user.user_id]
    assert [u.user_id for u in User.scan()] == [user.user_id]


def test_secrets_come_from_secrets_manager(client, telegram, settings_env):
    sm = aws.client("secretsmanager")
    token_arn = sm.create_secret(Name="prsnl/telegram-token", SecretString=TOKEN)["ARN"]
    secret_arn = sm.create_secret(Name="prsnl/webhook-secret", SecretString="from-secrets-manager")["ARN"]
    settings_env(PRSNL_TELEGRAM_TOKEN="", PRSNL_TELEGRAM_WEBHOOK_SECRET="", PRSNL_TELEGRAM_TOKEN_SECRET=token_arn,
                 PRSNL_TELEGRAM_WEBHOOK_SECRET_SECRET=secret_arn)
    assert post_update(client, text_update(28, TELEGRAM_USER, "/help")).status_code == 403
    response = post_update(client, text_update(29, TELEGRAM_USER, "/help"), secret="from-secrets-manager")
    assert response.status_code == 200 and len(telegram.calls_of("sendMessage")) == 1


def test_bot_api_connections_are_kept_alive(telegram):
    from chalicelib.telegram import bot as telegram_bot

    # the Bot API calls of one run (getMe, then two messages) share one HTTP/1.1 connection, as on Telegram
    async def two_messages(bot):
        await bot.send_message(TELEGRAM_USER, "one")
        await bot.send_message(TELEGRAM_USER, "two")

    telegram_bot.run(wiring.services().settings, two_messages)
    assert [name for name, _ in telegram.calls] == ["getMe", "sendMessage", "sendMessage"]
    assert len(telegram.connections) == 1


def test_api_does_not_import_telegram():
    import subprocess
    import sys

    code = "import sys, app; print(sorted(m for m in sys.modules if m.split('.')[0] in ('telegram', 'httpx')))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_a_capture_the_maintenance_gives_up_ends_its_reply_with_the_reason(client, telegram, drain, media_server,
                                                                          settings_env):
    # GIVEN a link sent to the bot, on its last attempt, whose worker died (claimed, its lease over, never finished)
    settings_env(PRSNL_MAX_ATTEMPTS="1")
    post_update(client, text_update(44, TELEGRAM_USER, media_server.url("files", "clip.mp4")))
    [video] = videos_of(TELEGRAM_USER)
    now = wiring.services().clock.now()
    assert jobs.claim(jobs.get(video.job_id), now=now - timedelta(minutes=10), lease_until=now - timedelta(minutes=1))
    # WHEN the maintenance runs
    report = maintenance.run(services=wiring.services(), apply=True)
    # THEN the job was given up, and its reply says so in plain words, with the Retry button
    assert report.stuck_jobs_failed.fixed == 1
    assert videos.get(video.video_id).status == "failed"
    [reply] = [m for (chat, _), m in sorted(telegram.messages.items()) if chat == TELEGRAM_USER]
    assert reply["text"].startswith("❌ Not saved: saving it stopped half-way; please try again.")
    assert reply["reply_markup"]["inline_keyboard"][0][0]["callback_data"] == f"retry:{video.video_id}"
    drain()  # the capture's own message, delivered late: its job is over
    assert jobs.get(video.job_id).status == jobs.FAILED


def test_a_capture_whose_worker_died_after_failing_its_job_ends_its_reply_at_the_next_maintenance(
        client, telegram, drain, media_server):
    # GIVEN a damaged file sent to the bot, whose worker died between the job's failure and its video's
    post_update(client, text_update(45, TELEGRAM_USER, media_server.url("files", "corrupt.mp4")))
    die_at_a_dynamodb_write(lambda writes: Video.Meta.table_name in writes and '"failed"' in writes)
    with pytest.raises(WorkerDied):
        drain()
    [video] = videos_of(TELEGRAM_USER)
    assert (jobs.get(video.job_id).status, video.status) == (jobs.FAILED, videos.PROCESSING)
    [reply] = [m for (chat, _), m in sorted(telegram.messages.items()) if chat == TELEGRAM_USER]
    assert not reply["text"].startswith("❌")
    # WHEN the maintenance runs after the grace period (a dry run first)
    wiring.override(clock=FakeClock(later=timedelta(hours=2)))
    dry = maintenance.run(services=wiring.services(), apply=False)
    assert (dry.stranded_videos.found, videos.get(video.video_id).status) == (1, videos.PROCESSING)
    report = maintenance.run(services=wiring.services(), apply=True)
    # THEN the video failed as its job did, its reply says why with the Retry button, and its owner's counters
    # were checked (a video processing for ever kept them from every check)
    assert report.stranded_videos.fixed == 1 and report.users_skipped_busy == 0
    video = videos.get(video.video_id)
    assert (video.status, video.error_code, video.bytes_reserved) == ("failed", "invalid_media", 0)
    [reply] = [m for (chat, _), m in sorted(telegram.messages.items()) if chat == TELEGRAM_USER]
    assert reply["text"].startswith("❌ Not saved: the file is damaged or is not a video.")
    assert reply["reply_markup"]["inline_keyboard"][0][0]["callback_data"] == f"retry:{video.video_id}"
    owner = User.get(video.owner_id)
    assert (owner.bytes_reserved, owner.bytes_used, owner.video_count) == (0, 0, 0)
    assert maintenance.run(services=wiring.services(), apply=True).stranded_videos.found == 0
