"""SQS: sending job messages, and the receive side the local worker loop uses."""

from __future__ import annotations

from functools import cached_property

from chalicelib import aws
from chalicelib.records.jobs import JobMessage


class SqsJobQueue:
    def __init__(self, name: str, url: str | None = None):
        self.name = name
        self._url = url

    @property
    def _sqs(self):
        return aws.client("sqs")

    @cached_property
    def url(self) -> str:
        return self._url or self._sqs.get_queue_url(QueueName=self.name)["QueueUrl"]

    def send(self, message: JobMessage) -> None:
        self._sqs.send_message(QueueUrl=self.url, MessageBody=message.to_json())

    def receive(self, *, max_messages: int = 10, wait_seconds: int = 20) -> list[dict]:
        response = self._sqs.receive_message(
            QueueUrl=self.url, MaxNumberOfMessages=max_messages, WaitTimeSeconds=wait_seconds,
            AttributeNames=["All"], MessageAttributeNames=["All"],
        )
        return response.get("Messages", [])

    def delete(self, receipt_handle: str) -> None:
        self._sqs.delete_message(QueueUrl=self.url, ReceiptHandle=receipt_handle)

    def retry_later(self, receipt_handle: str, seconds: int) -> None:
        """Backoff: the failed message becomes visible again only after ``seconds``."""
        self._sqs.change_message_visibility(QueueUrl=self.url, ReceiptHandle=receipt_handle,
                                            VisibilityTimeout=seconds)

    def depth(self) -> dict:
        attrs = self._sqs.get_queue_attributes(
            QueueUrl=self.url, AttributeNames=["ApproximateNumberOfMessages",
                                               "ApproximateNumberOfMessagesNotVisible"])["Attributes"]
        return {"visible": int(attrs["ApproximateNumberOfMessages"]),
                "in_flight": int(attrs["ApproximateNumberOfMessagesNotVisible"])}
