"""The worker Lambda's handler (the image's CMD): one SQS batch, partial failures reported.

The local worker loop and the tests call this very function with a genuine SQS event.
"""

from __future__ import annotations

from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord

from chalicelib import observability, wiring
from chalicelib.observability import logger
from chalicelib.ops import health, metrics
from chalicelib.pipeline import runner
from chalicelib.records import jobs

BACKOFF_MAX_SECONDS = 900


def backoff_seconds(receive_count: int, base: int) -> int:
    """Exponential backoff for the next delivery: base, 2 base, 4 base ... capped at 15 minutes."""
    return min(BACKOFF_MAX_SECONDS, base * 2 ** max(0, receive_count - 1))


def record_handler(record: SQSRecord, lease_seconds: float) -> None:
    message = jobs.JobMessage.from_json(record.body)
    logger.append_keys(job_id=message.job_id, video_id=message.video_id, correlation_id=message.correlation_id)
    metrics.job_received(message.enqueued_at)
    services = wiring.services()
    try:
        runner.process_job(message, services=services, lease_seconds=lease_seconds)
    except Exception:
        count = int(record.attributes.approximate_receive_count or 1)
        services.queue.retry_later(record.receipt_handle,
                                  backoff_seconds(count, services.settings.retry_backoff_seconds))
        raise


@observability.traced
@logger.inject_lambda_context(clear_state=True)
def handler(event: dict, context) -> dict:
    lease = context.get_remaining_time_in_millis() / 1000
    health.beat(wiring.services())

    def handle(record: SQSRecord) -> None:
        record_handler(record, lease)

    # a processor per call: the local loop runs several batches at once and a processor keeps batch state
    processor = BatchProcessor(event_type=EventType.SQS)
    return process_partial_response(event=event, record_handler=handle, processor=processor, context=context)
