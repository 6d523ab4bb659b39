"""WholeLines: a worker's jobs (or the API's requests) on several threads print Powertools' EMF documents and log
lines to one stdout; each must stay one line of JSON, for the log files and what reads them back."""

import io
import json
import sys
import threading

import pytest
from aws_lambda_powertools import Logger
from aws_lambda_powertools.metrics import EphemeralMetrics, MetricUnit

from chalicelib.local.console import WholeLines

THREADS, ROUNDS = 8, 150


@pytest.fixture
def switching_often():
    """Threads switched every microsecond, so that one thread's print is split by another's if it can be."""
    before = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)
    yield
    sys.setswitchinterval(before)


def a_file_like_a_pipe(path):
    """A text file whose every write goes to the OS at once (a small buffer, as a pipe's fills), which releases the
    GIL: another thread can print between a line and its newline there, as it did in the bench's worker."""
    return io.TextIOWrapper(io.BufferedWriter(io.FileIO(path, "w"), buffer_size=64), write_through=True)


def print_from_threads(stdout) -> None:
    """Jobs on threads, each flushing its metrics (Powertools prints the document) and logging, THREADS at once."""
    logger = Logger(service="whole-lines-test", stream=stdout)

    def job(number: int) -> None:
        metrics = EphemeralMetrics(namespace="Test", service="whole-lines-test")
        for step in range(ROUNDS):
            metrics.add_metric(name="Steps", unit=MetricUnit.Count, value=1)
            metrics.flush_metrics()
            logger.info("step", job=number, step=step)

    threads = [threading.Thread(target=job, args=(n,)) for n in range(THREADS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()


def test_lines_printed_by_threads_at_once_stay_whole(monkeypatch, switching_often, tmp_path):
    # GIVEN this process's stdout behind WholeLines
    out = a_file_like_a_pipe(tmp_path / "stdout")
    monkeypatch.setattr(sys, "stdout", WholeLines(out))

    # WHEN 8 jobs print their metrics and log at once
    print_from_threads(sys.stdout)
    out.close()

    # THEN every line is one JSON document: each EMF document and each log line, none joined or split
    documents = [json.loads(line) for line in (tmp_path / "stdout").read_text().splitlines()]
    assert len(documents) == THREADS * ROUNDS * 2
    assert sum("_aws" in document for document in documents) == THREADS * ROUNDS


def test_a_thread_s_unfinished_line_goes_out_at_its_flush():
    out = io.StringIO()
    stdout = WholeLines(out)

    print("half", end="", file=stdout)
    assert out.getvalue() == ""
    stdout.flush()

    assert out.getvalue() == "half"
