"""Create the stage's bucket, tables, queues and event bus, as the CDK app declares them (tables from the models).

Used by ``make run`` against the moto server and by the tests under in-process moto; safe to run twice.
"""

from __future__ import annotations

import json

from chalicelib import aws
from chalicelib.config import Settings
from chalicelib.records.models import ALL_MODELS, bind_tables
from chalicelib.storage import layout


def bootstrap(settings: Settings) -> dict:
    """Create everything that is missing; returns the queue URLs."""
    bind_tables(settings)
    for model in ALL_MODELS:
        if not model.exists():
            model.create_table(billing_mode="PAY_PER_REQUEST", wait=True)
    _bucket(settings.bucket, lifecycle=True)
    _bucket(settings.backup_bucket, lifecycle=False)
    if settings.event_bus:
        _event_bus(settings.event_bus)
    return _queues(settings)


def _event_bus(name: str) -> None:
    events = aws.client("events")
    if name not in {bus["Name"] for bus in events.list_event_buses()["EventBuses"]}:
        events.create_event_bus(Name=name)


def _bucket(name: str, *, lifecycle: bool) -> None:
    s3 = aws.client("s3")
    existing = {b["Name"] for b in s3.list_buckets().get("Buckets", [])}
    if name not in existing:
        s3.create_bucket(Bucket=name)
    s3.put_bucket_versioning(Bucket=name, VersioningConfiguration={"Status": "Enabled"})
    if lifecycle:
        s3.put_bucket_lifecycle_configuration(Bucket=name,
                                              LifecycleConfiguration={"Rules": layout.lifecycle_rules()})


def _queues(settings: Settings) -> dict:
    sqs = aws.client("sqs")
    dlq_url = sqs.create_queue(QueueName=settings.jobs_dlq,
                               Attributes={"MessageRetentionPeriod": str(14 * 24 * 3600)})["QueueUrl"]
    dlq_arn = sqs.get_queue_attributes(QueueUrl=dlq_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    redrive = json.dumps({"deadLetterTargetArn": dlq_arn, "maxReceiveCount": str(settings.max_attempts)})
    url = sqs.create_queue(QueueName=settings.jobs_queue,
                           # a message taken by a receive that died with its worker comes back after a lease
                           Attributes={"VisibilityTimeout": str(settings.hidden_seconds),
                                       "RedrivePolicy": redrive})["QueueUrl"]
    return {"jobs": url, "dlq": dlq_url}
