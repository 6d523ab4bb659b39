"""The events bus the PRSNL core subscribes to: the bus, an archive to replay from, and a DLQ for rule targets.

The delivery function puts every outbox event here (source ``prsnl.video``, detail-type the event type).
Consumers add their own rules (docs/deploy.md has one); a target that cannot take an event after EventBridge's
retries sends it to ``target_dlq``, which only rules on this bus may write to.
"""

from __future__ import annotations

from aws_cdk import Duration, Stack
from aws_cdk import aws_events as events
from aws_cdk import aws_iam as iam
from aws_cdk import aws_sqs as sqs
from constructs import Construct

from chalicelib.events.bus import SOURCE
from infra.constructs import nag

ARCHIVE_RETENTION = Duration.days(30)
DLQ_RETENTION = Duration.days(14)


class EventsBus(Construct):
    def __init__(self, scope: Construct, construct_id: str, *, bus_name: str, dlq_name: str) -> None:
        super().__init__(scope, construct_id)
        self.bus = events.EventBus(self, "Bus", event_bus_name=bus_name,
                                   description="PRSNL Video: video.ready, video.failed, video.deleted, "
                                               "video.rendition_ready")
        self.bus.archive("Archive", event_pattern=events.EventPattern(source=[SOURCE]), retention=ARCHIVE_RETENTION,
                         description="What the bus carried, to replay after a consumer's outage")
        self.target_dlq = sqs.Queue(self, "TargetDlq", queue_name=dlq_name, retention_period=DLQ_RETENTION,
                                    encryption=sqs.QueueEncryption.SQS_MANAGED, enforce_ssl=True)
        stack = Stack.of(self)
        rules_on_bus = stack.format_arn(service="events", resource="rule", resource_name=f"{bus_name}/*")
        self.target_dlq.add_to_resource_policy(iam.PolicyStatement(
            principals=[iam.ServicePrincipal("events.amazonaws.com")],
            actions=["sqs:SendMessage"],
            resources=[self.target_dlq.queue_arn],
            conditions={"ArnLike": {"aws:SourceArn": rules_on_bus}},
        ))
        nag.acknowledge(self.target_dlq, "SQS3", "This queue is a dead-letter queue itself: of the rule targets on "
                                                 "the bus (a target's DeadLetterConfig), which SQS3 cannot see.")
