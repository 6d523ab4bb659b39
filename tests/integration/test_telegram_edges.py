"""The bot at its edges, where Telegram and people meet it: a final edit refused once by flood control, Retry pressed
late, twice, under an older reply or by another member of a group, a capture our storage refuses after its reply
went out, an edited message, and a /list longer than one Telegram message."""

from __future__ import annotations

import json

import pytest
from botocore.exceptions import EndpointConnectionError

from chalicelib.records.models import Job
from tests import fakes
from tests.conftest import TELEGRAM_USER
from tests.fake_telegram import ApiError, button_update, text_update, video_update
from tests.integration.test_telegram_webhook import post_update, videos_of

GROUP = -100123
OTHER_MEMBER = 222  # whitelisted too (tests.conftest)


@pytest.fixture(autouse=True)
def loopback_allowed(settings_env):
    settings_env(PRSNL_ALLOW_LOOPBACK_URLS="true")


def replies_in(telegram, chat: int = TELEGRAM_USER) -> list[dict]:
    """The bot's messages in the chat as they are now, oldest first (a copy, as a client would hold them)."""
    return [json.loads(json.dumps(m)) for (at, _), m in sorted(telegram.messages.items()) if at == chat]


def text_of(telegram, reply: dict) -> str:
    return telegram.messages[(reply["chat"]["id"], reply["message_id"])]["text"]


def failed_capture(client, telegram, drain, link: str, update_id: int, *, chat: dict | None = None) -> dict:
    """A link sent to the bot whose capture failed: the bot's reply, with its Retry button."""
    update = text_update(update_id, TELEGRAM_USER, link)
    if chat is not None:
        update["message"]["chat"] = chat
    assert post_update(client, update).status_code == 200
    drain()
    reply = replies_in(telegram, update["message"]["chat"]["id"])[-1]
    assert reply["text"].startswith("❌") and reply["reply_markup"]
    return reply


def test_a_final_edit_refused_once_by_flood_control_still_ends_the_reply(client, telegram, drain, media_server):
    # GIVEN a link sent to the bot, and Telegram's flood control refusing the worker's final edit once
    refused = telegram.refuse_once("edit_message_text", lambda params: params["text"].startswith("✅"),
                                   ApiError(429, "Too Many Requests: retry after 1", {"retry_after": 1}))
    post_update(client, text_update(1, TELEGRAM_USER, media_server.url("files", "clip.mp4")))
    # WHEN the worker runs it
    assert drain() == 1
    # THEN the final edit was tried again: the reply says it is saved
    assert refused and [v.status for v in videos_of(TELEGRAM_USER)] == ["ready"]
    assert telegram.texts(TELEGRAM_USER)[0].startswith("✅ Saved")


def test_a_retry_pressed_again_after_its_capture_was_saved_leaves_the_reply_saved(client, telegram, drain,
                                                                                  later_link):
    # GIVEN a failed capture retried from its button, and saved
    link, put = later_link
    reply = failed_capture(client, telegram, drain, link, 40)
    put()
    [video] = videos_of(TELEGRAM_USER)
    press = f"retry:{video.video_id}"
    post_update(client, button_update(41, TELEGRAM_USER, reply, press))
    assert drain() == 1 and text_of(telegram, reply).startswith("✅ Saved")
    # WHEN the same (stale) button is pressed again
    assert post_update(client, button_update(42, TELEGRAM_USER, reply, press)).status_code == 200
    # THEN the reply still says saved, and the press is told why nothing happened
    assert text_of(telegram, reply).startswith("✅ Saved")
    assert telegram.calls_of("answerCallbackQuery")[-1]["text"] == "It is not failed any more: nothing to retry."


def test_a_retry_whose_answer_telegram_sends_again_after_the_capture_was_saved_leaves_it_saved(
        client, telegram, drain, later_link):
    # GIVEN a Retry press queued, whose answer Telegram refused (the webhook answered 503: it is sent again)
    link, put = later_link
    reply = failed_capture(client, telegram, drain, link, 40)
    put()
    [video] = videos_of(TELEGRAM_USER)
    telegram.flood_control("answerCallbackQuery", times=3, retry_after=1)
    update = button_update(41, TELEGRAM_USER, reply, f"retry:{video.video_id}")
    assert post_update(client, update).status_code == 503
    # WHEN the capture is saved, then the press comes again
    assert drain() == 1
    assert post_update(client, update).status_code == 200
    # THEN the reply still says saved
    assert text_of(telegram, reply).startswith("✅ Saved")


def test_a_retry_pressed_under_an_older_reply_is_followed_in_that_reply(client, telegram, drain, later_link):
    # GIVEN a link that failed twice (sent twice: the second queued the same video again), two failure replies
    link, put = later_link
    first = failed_capture(client, telegram, drain, link, 50)
    failed_capture(client, telegram, drain, link, 51)
    [video] = videos_of(TELEGRAM_USER)
    put()
    # WHEN Retry is pressed under the first one
    post_update(client, button_update(52, TELEGRAM_USER, first, f"retry:{video.video_id}"))
    assert drain() == 1
    # THEN that reply followed the job to its end
    assert videos_of(TELEGRAM_USER)[0].status == "ready"
    assert text_of(telegram, first).startswith("✅ Saved")


def storage_refuses_once() -> list:
    """The next DynamoDB transaction (a capture's record and job) does not reach DynamoDB, once."""
    refused = []

    def refuse(**_):
        if not refused:
            refused.append(True)
            raise EndpointConnectionError(endpoint_url="https://dynamodb.us-east-1.amazonaws.com")

    for client in fakes.dynamodb_clients():
        client.meta.events.register("before-parameter-build.dynamodb.TransactWriteItems", refuse)
    return refused


def test_a_capture_our_storage_refuses_leaves_no_reply_stuck_on_queued(client, telegram, drain, media_server):
    # GIVEN a link whose capture our storage refuses once, after the "queued" reply went out
    post_update(client, text_update(60, TELEGRAM_USER, "/help"))  # the user and the clients exist
    refused = storage_refuses_once()
    update = text_update(61, TELEGRAM_USER, media_server.url("files", "clip.mp4"))
    assert post_update(client, update).status_code == 503 and refused
    # WHEN Telegram sends the update again and the worker runs the capture
    assert post_update(client, update).status_code == 200
    assert drain() == 1
    # THEN the chat holds the help and one reply, saved: the refused one was taken back
    texts = telegram.texts(TELEGRAM_USER)
    assert len(texts) == 2 and texts[1].startswith("✅ Saved"), texts


def test_an_edited_message_gets_no_second_reply(client, telegram, media_server):
    link = media_server.url("files", "clip.mp4")
    original = text_update(70, TELEGRAM_USER, link)
    post_update(client, original)
    edited = {"update_id": 71, "edited_message": {**original["message"], "text": f"{link} !", "edit_date": 1}}
    assert post_update(client, edited).status_code == 200
    assert len(telegram.calls_of("sendMessage")) == 1, telegram.texts(TELEGRAM_USER)


def test_a_list_of_long_titles_fits_one_message(client, telegram, drain, media_dir):
    # GIVEN five videos sent with a long caption each (a caption may be 1,024 characters)
    content = (media_dir / "clip.mp4").read_bytes()
    for n in range(5):
        telegram.add_file(f"v{n}", content, unique_id=f"vu{n}", name=f"v{n}.mp4")
        post_update(client, video_update(80 + n, TELEGRAM_USER, file_id=f"v{n}", unique_id=f"vu{n}",
                                         size=len(content), caption=f"{n} " + "x" * 1000))
    assert drain() == 5
    # WHEN the person asks for the list
    assert post_update(client, text_update(90, TELEGRAM_USER, "/list")).status_code == 200
    # THEN it came, within one message (the fake refuses longer ones, as Telegram does), naming all five
    [answer] = [text for text in telegram.texts(TELEGRAM_USER) if text.startswith("Your recent captures:")]
    assert answer.count("✅") == 5 and len(answer) <= 4096


def test_another_members_retry_in_a_group_leaves_the_owners_button(client, telegram, drain, later_link):
    # GIVEN a capture that failed in a group
    link, put = later_link
    chat = {"id": GROUP, "type": "supergroup", "title": "Family"}
    reply = failed_capture(client, telegram, drain, link, 110, chat=chat)
    [video] = videos_of(TELEGRAM_USER)
    press = f"retry:{video.video_id}"
    # WHEN another whitelisted member presses its Retry
    post_update(client, button_update(111, OTHER_MEMBER, reply, press))
    # THEN they are told it is not theirs, and the reply keeps its button
    assert telegram.calls_of("answerCallbackQuery")[-1]["text"] == "Only the person who saved it can retry it."
    assert telegram.messages[(GROUP, reply["message_id"])].get("reply_markup") == reply["reply_markup"]
    # AND the owner can still retry it
    put()
    post_update(client, button_update(112, TELEGRAM_USER, replies_in(telegram, GROUP)[-1], press))
    assert drain() == 1
    assert text_of(telegram, reply).startswith("✅")


def test_status_answers_while_a_queued_captures_job_is_gone(client, telegram, media_server):
    # GIVEN a queued capture whose job record is gone (expired; the maintenance fails such a video later)
    post_update(client, text_update(120, TELEGRAM_USER, media_server.url("files", "clip.mp4")))
    [video] = videos_of(TELEGRAM_USER)
    Job(video.job_id).delete()
    # WHEN the person asks what is being saved
    response = post_update(client, text_update(121, TELEGRAM_USER, "/status"))
    # THEN the webhook answers 200 (not a 503 Telegram would send again for ever) with the capture listed
    assert response.status_code == 200
    assert telegram.texts(TELEGRAM_USER)[-1].startswith("In progress:\n⏳ Queued")


def test_a_link_whose_message_was_deleted_at_once_is_still_saved(client, telegram, drain, media_server):
    # GIVEN a link sent, and its message deleted by the person before the bot answered it
    update = text_update(130, TELEGRAM_USER, media_server.url("files", "clip.mp4"))
    telegram.deleted.add((TELEGRAM_USER, update["message"]["message_id"]))
    # WHEN the update arrives and the worker runs
    assert post_update(client, update).status_code == 200
    drain()
    # THEN the reply came anyway (not as a reply to a message that is gone), and the link was saved
    assert [video.status for video in videos_of(TELEGRAM_USER)] == ["ready"]
    assert telegram.texts(TELEGRAM_USER)[0].startswith("✅ Saved")
