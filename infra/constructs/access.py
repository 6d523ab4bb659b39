"""Least-privilege grants, one function per role: what the API, the worker and the schedules may touch.

Explicit S3 actions rather than ``grant_read_write`` (whose ``s3:GetObject*``-style wildcards nag flags and
which would let any role overwrite media).
"""

from __future__ import annotations

from collections.abc import Sequence

from aws_cdk import Stack
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_events as events
from aws_cdk import aws_iam as iam
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_secretsmanager as secretsmanager
from aws_cdk import aws_sqs as sqs

from infra.constructs import nag

OBJECT_READ_DELETE = ("s3:GetObject", "s3:DeleteObject")
OBJECT_WRITE = ("s3:PutObject", "s3:AbortMultipartUpload")


def _objects(role: iam.IRole, bucket: s3.IBucket, actions: Sequence[str], *, uploads: bool = False) -> None:
    """Object actions, and listing; ``uploads``: the unfinished multipart uploads too (a dead attempt's)."""
    role.add_to_principal_policy(iam.PolicyStatement(actions=list(actions), resources=[bucket.arn_for_objects("*")]))
    listing = ["s3:ListBucket", *(["s3:ListBucketMultipartUploads"] if uploads else [])]
    role.add_to_principal_policy(iam.PolicyStatement(actions=listing, resources=[bucket.bucket_arn]))
    nag.acknowledge(
        role,
        nag.arn_wildcard(bucket, "/*"),
        "Object keys are generated per video (videos/YYYY/MM/{uuid}...); the actions are object-level only.",
    )


def _tables(role: iam.IRole, tables: Sequence[dynamodb.ITable], *, write: bool = True) -> None:
    for table in tables:
        if write:
            table.grant_read_write_data(role)  # adds <table>/index/* only when the table has indexes
        else:
            table.grant_read_data(role)
        if _has_indexes(table):
            nag.acknowledge(
                role,
                nag.arn_wildcard(table, "/index/*"),
                "Queries use the table's own indexes (declared in chalicelib/records/models.py), all of them.",
            )


def _has_indexes(table: dynamodb.Table) -> bool:
    cfn = table.node.default_child
    return bool(
        Stack.of(table).resolve(cfn.global_secondary_indexes) or Stack.of(table).resolve(cfn.local_secondary_indexes)
    )


def _secrets(role: iam.IRole, secrets: Sequence[secretsmanager.ISecret]) -> None:
    for secret in secrets:
        secret.grant_read(role)


def api(role: iam.IRole, *, tables, read_tables, bucket, queue: sqs.IQueue, dlq: sqs.IQueue, secrets) -> None:
    """Records, enqueueing, object reads and deletes (DELETE /videos/{id}); never writes media.

    ``read_tables``: figures others write (storage snapshots, the worker's heartbeat and rollups); the deep
    health check reads both queues' depth.
    """
    _tables(role, tables)
    _tables(role, read_tables, write=False)
    _objects(role, bucket, OBJECT_READ_DELETE)
    queue.grant_send_messages(role)
    dlq.grant(role, "sqs:GetQueueAttributes", "sqs:GetQueueUrl")
    _secrets(role, secrets)


def worker(role: iam.IRole, *, tables, bucket, secrets) -> None:
    """Records and media objects (multipart uploads, temp/ cleanup); the SQS event source grants the queue."""
    _tables(role, tables)
    _objects(role, bucket, OBJECT_READ_DELETE + OBJECT_WRITE, uploads=True)
    _secrets(role, secrets)


def maintenance(role: iam.IRole, *, tables, bucket, queue: sqs.IQueue) -> None:
    """Orphan sweep and snapshot (list, delete), stale multipart uploads (abort), stuck-job reaper (re-enqueue)."""
    _tables(role, tables)
    _objects(role, bucket, (*OBJECT_READ_DELETE, "s3:AbortMultipartUpload"), uploads=True)
    queue.grant_send_messages(role)


def events_delivery(role: iam.IRole, *, outbox: dynamodb.ITable, bus: events.IEventBus,
                    secret: secretsmanager.ISecret) -> None:
    """The outbox's delivery: its table, PutEvents on the stage's bus only, the webhook's signing key."""
    _tables(role, [outbox])
    bus.grant_put_events_to(role)
    _secrets(role, [secret])
