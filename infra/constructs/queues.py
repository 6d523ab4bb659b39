"""The jobs queue and its dead-letter queue: retries through the visibility timeout, then the DLQ."""

from __future__ import annotations

from aws_cdk import Duration
from aws_cdk import aws_sqs as sqs
from constructs import Construct

VISIBILITY_FACTOR = 6  # AWS: visibility timeout at least six times the consuming function's timeout
DLQ_RETENTION = Duration.days(14)


class JobQueues(Construct):
    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        name: str,
        dlq_name: str,
        worker_timeout: Duration,
        max_receive_count: int,
    ) -> None:
        super().__init__(scope, construct_id)
        self.dlq = sqs.Queue(
            self,
            "Dlq",
            queue_name=dlq_name,
            retention_period=DLQ_RETENTION,
            encryption=sqs.QueueEncryption.SQS_MANAGED,
            enforce_ssl=True,
        )
        self.jobs = sqs.Queue(
            self,
            "Jobs",
            queue_name=name,
            visibility_timeout=Duration.seconds(VISIBILITY_FACTOR * worker_timeout.to_seconds()),
            encryption=sqs.QueueEncryption.SQS_MANAGED,
            enforce_ssl=True,
            dead_letter_queue=sqs.DeadLetterQueue(queue=self.dlq, max_receive_count=max_receive_count),
        )
