"""The start of a fan-out: a capture or a rendition too long to transcode in one worker's time goes out as segments.

The job's worker splits the picture at keyframes (stream copy), makes the sound once (``audio.m4a``), puts both
under the job's temp prefix, saves one segment job per part, moves the job to ``waiting`` with what its join
needs, and sends the segments' messages. The reservation stays where the job keeps it (a capture's on its video,
a rendition's on the job): the join settles it, a failure gives it back (``segment_run``).
"""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path

from chalicelib.media import segments, transcode
from chalicelib.observability import logger
from chalicelib.pipeline.run import Run, TakenBackError
from chalicelib.records import jobs
from chalicelib.storage import layout

AUDIO = "audio.m4a"


def start(run: Run, plan: transcode.Plan, source: Path, workdir: Path, *, join: dict) -> None:
    """``join``: what the job's own join needs besides the parts (a capture's kind and metadata)."""
    job, services = run.job, run.services
    prefix = layout.temp_prefix(job.job_id)
    with run.stats.timed("split"):
        parts = segments.split(plan, source, workdir, seconds=run.settings.segment_seconds)
        audio = transcode.encode_audio(plan, source, workdir / AUDIO)
    run.progress("uploading")
    for part in parts:
        run.upload(workdir / part.name, prefix + part.name)
    if audio:
        run.upload(workdir / AUDIO, prefix + AUDIO)
    join = {**join, "source": asdict(plan.source), "parts": [part.to_params() for part in parts],
            "audio": asdict(segments.extents(workdir / AUDIO)["audio"]) if audio else None}
    now = services.clock.now()
    children = [jobs.new_job(services.clock.new_id(), video_id=job.video_id, owner_id=job.owner_id, kind=jobs.SEGMENT,
                             now=now, params={"parent": job.job_id, "attempt": job.attempts,
                                              "encoding": asdict(plan.encoding), "part": part.to_params()})
                for part in parts]
    jobs.create_all(children)
    if not jobs.fan_out(job, segments=len(parts), join=join, now=now):
        raise TakenBackError()
    run.uploaded = []  # the fan-out's now: its join or its failure removes them
    logger.info("transcode fanned out", extra={"job_id": job.job_id, "segments": len(parts)})
    for child in children:
        _send(services, child)


def _send(services, child) -> None:
    """A segment's message. The capture waits already: a message that cannot be sent leaves its job queued, and
    the maintenance sends the message of a job queued that long again."""
    try:
        services.queue.send(jobs.JobMessage(child.job_id, child.video_id, child.owner_id, kind=jobs.SEGMENT))
    except Exception:
        logger.exception("segment message not sent", extra={"job_id": child.job_id})
