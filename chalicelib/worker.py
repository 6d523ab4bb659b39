"""The worker Lambda's handler (the image's CMD): one SQS batch, partial failures reported.

The local worker loop and the tests call this very function with a genuine SQS event.
"""

from __future__ import annotations

from functools import partial

from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord

from chalicelib import observability, wiring
from chalicelib.observability import logger
from chalicelib.ops import health, metrics
from chalicelib.pipeline import rules, runner
from chalicelib.records import jobs

BACKOFF_MAX_SECONDS = 900


def backoff_seconds(receive_count: int, base: int) -> int:
    """Exponential backoff for the next delivery: base, 2 base, 4 base ... capped at 15 minutes."""
    return min(BACKOFF_MAX_SECONDS, base * 2 ** max(0, receive_count - 1))


def record_handler(record: SQSRecord) -> None:
    """One message: hidden until its job's lease is over (a redelivery after a crash can then claim the job), run,
    and on a failure hidden for its backoff. A body that is no job message fails every delivery: the DLQ's."""
    services = wiring.services()
    hide = partial(services.queue.hide_for, record.receipt_handle)
    received_at = services.clock.now()
    try:
        hide(services.settings.hidden_seconds)
        message = jobs.JobMessage.from_json(record.body)
        logger.thread_safe_append_keys(job_id=message.job_id, video_id=message.video_id,
                                       correlation_id=message.correlation_id)
        metrics.job_received(message.enqueued_at)
        runner.process_job(message, services=services, received_at=received_at,
                           hold_message=lambda: hide(services.settings.hidden_seconds))
    except Exception as exc:
        count = int(record.attributes.approximate_receive_count or 1)
        base = services.settings.retry_backoff_seconds
        hide(rules.retry_delay(exc, backoff_seconds(count, base), base))
        raise
    finally:
        logger.thread_safe_clear_keys()  # this thread's next job starts with none of this one's keys


@observability.traced
@logger.inject_lambda_context(clear_state=True)
def handler(event: dict, context) -> dict:
    health.beat(wiring.services())
    # a processor per call: the local loop runs several batches at once and a processor keeps batch state
    processor = BatchProcessor(event_type=EventType.SQS)
    return process_partial_response(event=event, record_handler=record_handler, processor=processor,
                                    context=context)
