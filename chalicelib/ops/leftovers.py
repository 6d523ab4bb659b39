"""What a dead attempt at a job leaves behind, cleared by its redelivery (pipeline) or by the reaper (maintenance)."""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING

from chalicelib.records.models import Job, Video
from chalicelib.storage import layout

if TYPE_CHECKING:
    from chalicelib.wiring import Services


def clear_leftovers(job: Job, video: Video | None, services: Services) -> None:
    """A dead attempt's files: its temp objects, its unfinished multipart uploads, and its work dirs when it ran
    on this machine (a Lambda's /tmp died with it)."""
    storage = services.storage
    storage.delete([obj["Key"] for obj in storage.list(layout.temp_prefix(job.job_id))])
    if video is not None:
        for prefix in layout.prefixes_of(video.video_id, video.created_at):
            storage.abort_uploads(prefix)
    work_root = Path(services.settings.work_dir or tempfile.gettempdir())
    for workdir in work_root.glob(f"prsnl-{job.job_id}-*"):
        shutil.rmtree(workdir, ignore_errors=True)
