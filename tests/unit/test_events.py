"""Webhook signing (Standard Webhooks' published example), secrets, and the outbox's retry timing: no AWS, no
network."""

from __future__ import annotations

import pytest

from chalicelib.errors import PrsnlError
from chalicelib.events import delivery, webhook

# The example of the Standard Webhooks libraries' tests: this secret, id, timestamp and body sign to this value.
SPEC_SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
SPEC_ID, SPEC_TIMESTAMP, SPEC_BODY = "msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265330, b'{"test": 2432232314}'
SPEC_SIGNATURE = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="


def test_signature_matches_the_standard_webhooks_example():
    key = webhook.signing_key(SPEC_SECRET)
    assert webhook.signature(key, SPEC_ID, SPEC_TIMESTAMP, SPEC_BODY) == SPEC_SIGNATURE
    headers = webhook.signed_headers(key, SPEC_ID, SPEC_TIMESTAMP, SPEC_BODY)
    assert headers == {"webhook-id": SPEC_ID, "webhook-timestamp": "1614265330",
                       "webhook-signature": SPEC_SIGNATURE, "content-type": "application/json"}


def test_signature_changes_with_id_timestamp_and_body():
    key = webhook.signing_key(SPEC_SECRET)
    others = {webhook.signature(key, "msg_other", SPEC_TIMESTAMP, SPEC_BODY),
              webhook.signature(key, SPEC_ID, SPEC_TIMESTAMP + 1, SPEC_BODY),
              webhook.signature(key, SPEC_ID, SPEC_TIMESTAMP, SPEC_BODY + b" ")}
    assert len(others) == 3 and SPEC_SIGNATURE not in others


@pytest.mark.parametrize("secret", ["", "whsec_", "whsec_not base64!", "plain-text"])
def test_a_secret_that_is_not_whsec_base64_is_refused(secret):
    with pytest.raises(PrsnlError) as caught:
        webhook.signing_key(secret)
    assert caught.value.code == "not_configured"


def test_a_secret_without_its_prefix_is_the_same_key():
    assert webhook.signing_key(SPEC_SECRET.removeprefix("whsec_")) == webhook.signing_key(SPEC_SECRET)


@pytest.mark.parametrize(("attempts", "base", "expected"), [
    (1, 5, 5), (2, 5, 10), (3, 5, 20), (8, 5, 640), (10, 5, 2560), (11, 5, 3600), (30, 5, 3600), (4, 0, 0),
])
def test_backoff_doubles_up_to_an_hour(attempts, base, expected):
    assert delivery.backoff_seconds(attempts, base) == expected


@pytest.mark.parametrize(("timeout", "expected"), [(1, 30), (10, 30), (20, 60)])
def test_a_claim_outlasts_an_attempt(timeout, expected):
    assert delivery.lease_seconds(timeout) == expected
