"""EventBridge: every event put on the stage's bus (``PRSNL_EVENT_BUS``), for rules the PRSNL core sets up."""

from __future__ import annotations

import json

from chalicelib import aws
from chalicelib.events.webhook import DeliveryError

SOURCE = "prsnl.video"


class EventBridgeBus:
    def __init__(self, name: str):
        self.name = name

    def put(self, payload: dict) -> None:
        """One PutEvents entry: source ``prsnl.video``, detail-type the event type, detail the payload (its ``id``
        is the stable event id: EventBridge gives each put a new one of its own)."""
        answer = aws.client("events").put_events(Entries=[{
            "Source": SOURCE, "DetailType": payload["type"], "Detail": json.dumps(payload), "EventBusName": self.name,
        }])
        if answer.get("FailedEntryCount"):
            entry = answer["Entries"][0]
            raise DeliveryError(f"EventBridge refused the event: {entry.get('ErrorCode')} {entry.get('ErrorMessage')}")
