"""Events to the PRSNL core: captures through the real worker handler (real yt-dlp and ffmpeg against loopback
media), the outbox delivered by the local worker's delivery loop to a webhook receiver on loopback (signatures
checked here with an implementation of our own, not the code under test), and to an EventBridge bus on moto
whose rule sends to an SQS queue."""

from __future__ import annotations

import json
import threading

import pytest

from chalicelib import aws, wiring
from chalicelib.config import get_settings
from chalicelib.events import delivery
from chalicelib.local.bootstrap import bootstrap
from chalicelib.records import jobs
from chalicelib.records.models import Event
from tests.e2e.conftest import wait_for
from tests.webhook_receiver import SECRET, Receiver, verified

WAIT_SECONDS = 120


@pytest.fixture
def receiver(request):
    server = Receiver(**getattr(request, "param", {})).start()
    yield server
    server.stop()


@pytest.fixture
def webhook(receiver, settings_env, work_dir):
    settings_env(PRSNL_ALLOW_LOOPBACK_URLS="true", PRSNL_WEBHOOK_URL=receiver.url, PRSNL_WEBHOOK_SECRET=SECRET,
                 PRSNL_EVENT_POLL_SECONDS="0.1", PRSNL_EVENT_BACKOFF_SECONDS="1", PRSNL_WEBHOOK_TIMEOUT_SECONDS="2")
    return receiver


@pytest.fixture
def delivering(webhook):
    """The local worker's delivery loop, running beside the jobs as ``make run`` runs it."""
    stop = threading.Event()
    thread = threading.Thread(target=delivery.serve, args=(wiring.services(),), kwargs={"stop": stop}, daemon=True)
    thread.start()
    yield
    stop.set()
    thread.join(WAIT_SECONDS)


def api(client, user, method: str, path: str, body: dict | None = None):
    return getattr(client.http, method)(path, headers=user.headers, body=json.dumps(body) if body else None)


def four_changes(client, user, drain, media_server, clip480_url) -> dict:
    """A capture made ready, a rendition of it, a capture that fails, then the ready one deleted."""
    ready = api(client, user, "post", "/api/capture", {"url": clip480_url}).json_body
    assert drain() == 1
    rendition = api(client, user, "post", f"/api/videos/{ready['video_id']}/transcode", {"quality": "360p"})
    assert rendition.status_code == 202, rendition.json_body
    assert drain() == 1
    broken = api(client, user, "post", "/api/capture", {"url": media_server.url("files", "corrupt.mp4")}).json_body
    assert drain() == 1
    assert jobs.get(broken["job_id"]).status == jobs.FAILED
    assert api(client, user, "delete", f"/api/videos/{ready['video_id']}").status_code == 204
    return {"video.ready": ready["video_id"], "video.rendition_ready": ready["video_id"],
            "video.failed": broken["video_id"], "video.deleted": ready["video_id"]}


def pending() -> list[Event]:
    return [event for event in Event.scan() if event.pending]


def received(receiver: Receiver, *, events: int = 4) -> dict[str, dict]:
    """Each event id's payload once the outbox is empty (nothing can arrive after that)."""
    wait_for(lambda: not pending() and Event.count() >= events, timeout=WAIT_SECONDS, what="the outbox delivered")
    return {event_id: verified(requests[0]) for event_id, requests in receiver.by_id().items()}


def test_each_change_arrives_once_signed_when_a_webhook_is_set(client, user, drain, media_server, clip480_url,
                                                               delivering, webhook):
    # WHEN four changes happen through the API and the real worker
    expected = four_changes(client, user, drain, media_server, clip480_url)
    # THEN each arrives once, under its own id, signed, with what the PRSNL core needs
    payloads = received(webhook)
    assert {p["type"]: p["data"]["video_id"] for p in payloads.values()} == expected
    assert len(payloads) == 4 and all(len(r) == 1 for r in webhook.by_id().values())
    by_type = {p["type"]: p for p in payloads.values()}
    assert by_type["video.failed"]["data"]["code"] == "invalid_media" and by_type["video.failed"]["data"]["message"]
    assert by_type["video.ready"]["data"]["height"] == 480 and by_type["video.ready"]["data"]["owner_id"] == "alice"
    assert by_type["video.rendition_ready"]["data"]["quality"] == "360p"
    assert all(event.delivered == ["webhook"] and event.attempts == 1 for event in Event.scan())


@pytest.mark.parametrize("receiver", [{"failures": 2}], indirect=True)
def test_a_failing_receiver_gets_each_event_again_under_the_same_id(client, user, drain, media_server,
                                                                    clip480_url, delivering, webhook):
    # GIVEN a receiver that answers 500 to the first two deliveries of every event
    # WHEN the four changes happen
    expected = four_changes(client, user, drain, media_server, clip480_url)
    # THEN every event came three times with the same id and body (once after dedupe by id), each signed anew
    payloads = received(webhook)
    assert {p["type"]: p["data"]["video_id"] for p in payloads.values()} == expected
    for requests in webhook.by_id().values():
        assert len(requests) == 3
        assert len({r["body"] for r in requests}) == 1 and all(verified(r) for r in requests)
    # AND the waits between attempts grew (1 s, then 2 s: the backoff)
    assert all(event.attempts == 3 for event in Event.scan())


@pytest.mark.parametrize("receiver", [{"hang": True}], indirect=True)
def test_a_hanging_receiver_neither_holds_nor_fails_the_job(client, user, drain, clip480_url, delivering, webhook):
    # GIVEN a receiver that never answers
    # WHEN a capture runs through the worker
    ready = api(client, user, "post", "/api/capture", {"url": clip480_url}).json_body
    assert drain() == 1
    # THEN the job succeeded and the video is ready, while the event waits for its next attempt
    assert jobs.get(ready["job_id"]).status == jobs.SUCCEEDED
    assert api(client, user, "get", f"/api/videos/{ready['video_id']}").json_body["status"] == "ready"
    event = wait_for(lambda: next((e for e in pending() if e.last_error), None), timeout=WAIT_SECONDS,
                     what="a timed-out attempt")
    assert "webhook" in event.last_error and event.delivered == []
    # AND once the receiver answers again, the event gets there
    webhook.hang = False
    webhook.release.set()
    payloads = received(webhook, events=1)
    assert [p["type"] for p in payloads.values()] == ["video.ready"]


def test_a_webhook_to_a_private_address_is_refused_by_the_guard(user, settings_env):
    # GIVEN a webhook pointing at loopback while loopback is not allowed (as in AWS)
    settings_env(PRSNL_WEBHOOK_URL="http://127.0.0.1:9/hook", PRSNL_WEBHOOK_SECRET=SECRET,
                 PRSNL_ALLOW_LOOPBACK_URLS="false")
    event = _saved_event()
    # WHEN the outbox is delivered
    report = delivery.deliver_due(wiring.services())
    # THEN nothing was sent and the event waits with the guard's reason
    assert (report.delivered, report.retried) == (0, 1)
    event.refresh()
    assert event.pending and "loopback" in event.last_error


@pytest.fixture
def core_inbox(user, settings_env) -> str:
    """The stage's bus on moto with a rule for failed videos that sends to an SQS queue (the core's inbox)."""
    settings_env(PRSNL_EVENT_BUS="prsnl-local-events")
    bootstrap(get_settings())
    sqs, bus = aws.client("sqs"), aws.client("events")
    queue_url = sqs.create_queue(QueueName="core-inbox")["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    bus.put_rule(Name="to-core", EventBusName="prsnl-local-events",
                 EventPattern=json.dumps({"source": ["prsnl.video"], "detail-type": ["video.failed"]}))
    bus.put_targets(Rule="to-core", EventBusName="prsnl-local-events", Targets=[{"Id": "inbox", "Arn": queue_arn}])
    return queue_url


def inbox(queue_url: str) -> list[dict]:
    """Every event envelope the rule sent to the queue."""
    found = []
    while messages := aws.client("sqs").receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10,
                                                        WaitTimeSeconds=1).get("Messages"):
        found += [json.loads(message["Body"]) for message in messages]
    return found


def test_events_go_to_the_event_bus_as_a_rule_sees_them(core_inbox):
    # GIVEN a failed video's event in the outbox
    event = _saved_event()
    # WHEN the outbox is delivered
    assert delivery.deliver_due(wiring.services()).delivered == 1
    # THEN the rule's queue holds the event, with its stable id, once
    messages = inbox(core_inbox)
    assert len(messages) == 1
    envelope = messages[0]
    assert envelope["source"] == "prsnl.video" and envelope["detail-type"] == "video.failed"
    assert envelope["detail"]["id"] == event.event_id and envelope["detail"]["data"]["code"] == "too_large"
    event.refresh()
    assert event.pending is None and event.delivered == ["eventbridge"]


def _saved_event() -> Event:
    """A failed video's event, saved as the worker's failure saves it."""
    from chalicelib.records import events
    from chalicelib.records.models import Video

    video = Video("v1", owner_id="alice", platform="direct", source_url="https://example.com/a.mp4")
    event = events.failed(video, now=wiring.services().clock.now(), code="too_large", message="too large")
    event.save()
    return event


@pytest.mark.parametrize("receiver", [{"failures": 99}], indirect=True)
def test_an_event_no_attempt_delivers_is_given_up_after_the_last(user, webhook, settings_env, capsys):
    # GIVEN a receiver that always answers 500, and two attempts per event without waiting between them
    settings_env(PRSNL_EVENT_MAX_ATTEMPTS="2", PRSNL_EVENT_BACKOFF_SECONDS="0")
    event = _saved_event()
    # WHEN the outbox is delivered three times
    reports = [delivery.deliver_due(wiring.services()) for _ in range(3)]
    # THEN the first attempt is retried, the second gives up, the third finds nothing due
    assert [(r.retried, r.given_up) for r in reports] == [(1, 0), (0, 1), (0, 0)]
    event.refresh()
    assert event.pending is None and event.attempts == 2 and "500" in event.last_error
    assert len(webhook.by_id()[event.event_id]) == 2
    # AND the give-up is counted (its metric has an alarm)
    assert '"EventsGivenUp":[1.0]' in capsys.readouterr().out


def test_the_every_minute_schedule_delivers_a_backlog_larger_than_a_batch(core_inbox, client):
    # GIVEN more events due than one batch holds
    saved = {_saved_event().event_id for _ in range(delivery.BATCH + 5)}
    # WHEN EventBridge invokes the delivery schedule once
    event = client.events.generate_cw_event(source="aws.events", detail_type="Scheduled Event", detail={},
                                            resources=["arn:aws:events:us-east-1:000000000000:rule/every-minute"])
    client.lambda_.invoke("deliver_events", event)
    # THEN every event reached the rule's queue once and none is left
    assert sorted(envelope["detail"]["id"] for envelope in inbox(core_inbox)) == sorted(saved)
    assert pending() == []
