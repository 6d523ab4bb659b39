"""The local stand-in for Lambda's SQS event source mapping: long-poll, call ``worker.handler``, delete.

It builds the same event Lambda builds (real receipt handles, attributes), runs up to N batches at
once, and deletes only the records the handler did not report as failed — as the mapping does with
ReportBatchItemFailures. Failed records stay on the queue for their backoff, then the DLQ.

``python -m chalicelib.local.worker_loop`` is the worker process: ``make run`` starts it, and
``make worker`` starts it again alone against the running stack. One worker per stack (a lock under
``.local``): so at its start no other can hold a job, and it takes back the jobs left running. It also
delivers the outbox's events (``events.delivery.serve``), as the AWS schedule does there.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import sys
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

from chalicelib import aws, worker
from chalicelib.observability import logger
from chalicelib.queue import SqsJobQueue

FUNCTION_TIMEOUT_SECONDS = 900
SQS_MOST_MESSAGES = 10  # the most one ReceiveMessage hands out


@dataclass
class LocalLambdaContext:
    function_name: str = "prsnl-worker-local"
    memory_limit_in_mb: int = 3008
    invoked_function_arn: str = "arn:aws:lambda:us-east-1:000000000000:function:prsnl-worker-local"
    aws_request_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    deadline: float = field(default_factory=lambda: time.monotonic() + FUNCTION_TIMEOUT_SECONDS)

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int(1000 * (self.deadline - time.monotonic())))


def to_lambda_event(messages: list[dict], queue_arn: str, region: str) -> dict:
    """SQS messages as Lambda delivers them."""
    return {"Records": [{
        "messageId": m["MessageId"], "receiptHandle": m["ReceiptHandle"], "body": m["Body"],
        "attributes": m.get("Attributes", {}), "messageAttributes": m.get("MessageAttributes", {}),
        "md5OfBody": m.get("MD5OfBody", ""), "eventSource": "aws:sqs", "eventSourceARN": queue_arn,
        "awsRegion": region,
    } for m in messages]}


def run_batch(queue: SqsJobQueue, arn: str, messages: list[dict]) -> dict:
    """Hand one batch to the worker handler and delete what succeeded."""
    event = to_lambda_event(messages, arn, aws.client("sqs").meta.region_name)
    try:
        result = worker.handler(event, LocalLambdaContext())
    except Exception:  # Powertools raises when every record failed: Lambda would retry them all
        logger.exception("every record of the batch failed")
        result = {"batchItemFailures": [{"itemIdentifier": m["MessageId"]} for m in messages]}
    failed = {f["itemIdentifier"] for f in result.get("batchItemFailures", [])}
    for message in messages:
        if message["MessageId"] not in failed:
            queue.delete(message["ReceiptHandle"])
    return result


def queue_arn(queue: SqsJobQueue) -> str:
    attrs = aws.client("sqs").get_queue_attributes(QueueUrl=queue.url, AttributeNames=["QueueArn"])
    return attrs["Attributes"]["QueueArn"]


def drain(queue: SqsJobQueue, *, max_batches: int = 100) -> int:
    """Process what is visible now, one message per batch, until the queue has nothing visible (tests, CLI)."""
    handled, arn = 0, queue_arn(queue)
    for _ in range(max_batches):
        messages = queue.receive(max_messages=1, wait_seconds=0)
        if not messages:
            break
        run_batch(queue, arn, messages)
        handled += 1
    return handled


def serve(queue: SqsJobQueue, *, concurrency: int, stop: threading.Event, poll_seconds: int = 2) -> None:
    """Long-poll until ``stop`` is set, running up to ``concurrency`` single-message batches at once. Each receive asks
    for as many messages as there are free slots (SQS hands out ten at most): ten captures queued together start
    together, not one receive after another while the first ones start."""
    slots, arn = threading.Semaphore(concurrency), queue_arn(queue)
    with ThreadPoolExecutor(max_workers=concurrency, thread_name_prefix="worker") as pool:
        while not stop.is_set():
            free, messages = _take_free_slots(slots), []
            try:
                messages = queue.receive(max_messages=free, wait_seconds=poll_seconds)
            except Exception:
                if stop.wait(1):
                    break
            finally:
                for _ in range(free - len(messages)):
                    slots.release()
            for message in messages:
                future = pool.submit(run_batch, queue, arn, [message])
                future.add_done_callback(lambda _f: slots.release())


def _take_free_slots(slots: threading.Semaphore) -> int:
    """Take one slot (waiting for it), then as many more as are free, up to one receive's ten."""
    slots.acquire()
    taken = 1
    while taken < SQS_MOST_MESSAGES and slots.acquire(blocking=False):
        taken += 1
    return taken


def main() -> int:
    """The worker process: the running stack's queue until SIGTERM or Ctrl-C."""
    from chalicelib import wiring
    from chalicelib.events import delivery
    from chalicelib.local import console, processes, stack
    from chalicelib.ops import maintenance

    processes.die_with_parent()
    sys.stdout = console.WholeLines(sys.stdout)  # several jobs at once print their metrics
    if os.environ.get(processes.PARENT_PID):  # started by the stack, in its own session: take ffmpeg along
        processes.end_own_group_on_sigterm()
    if not stack.use_running_stack():
        print("no local stack is running: start it with `make run`", file=sys.stderr)
        return 1
    lock = (stack.state_dir() / "worker.lock").open("a+")
    try:
        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        lock.seek(0)
        print(f"a worker is already running for this stack (pid {lock.read().strip()})", file=sys.stderr)
        return 1
    lock.truncate(0)
    lock.write(str(os.getpid()))
    lock.flush()
    services = wiring.services()
    report = maintenance.take_back_running(services=services)
    taken = report.stuck_jobs_requeued.fixed + report.stuck_jobs_failed.fixed
    print(f"worker {os.getpid()} started; jobs left running by a stopped worker, taken back: {taken}", flush=True)
    stop = threading.Event()
    threading.Thread(target=serve, args=(services.queue,), daemon=True, name="worker-loop",
                     kwargs={"concurrency": services.settings.worker_concurrency, "stop": stop}).start()
    # the events the jobs saved go out from here, on a thread of their own: a slow receiver never holds a job
    threading.Thread(target=delivery.serve, args=(services,), kwargs={"stop": stop}, daemon=True,
                     name="event-delivery").start()
    with contextlib.suppress(KeyboardInterrupt):
        stop.wait()
    sys.stdout.flush()
    os._exit(0)  # now: the jobs in flight are taken back at the next start (waiting could take minutes)


if __name__ == "__main__":
    sys.exit(main())
