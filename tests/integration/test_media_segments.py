"""The split with real ffmpeg: the parts' list keeps the source's timeline, whatever the source's codec."""

from __future__ import annotations

import pytest

from chalicelib.media import segments, transcode
from chalicelib.media.probe import probe
from tests import media as test_media


def test_an_h264_source_with_b_frames_is_split_on_its_own_timeline(tmp_path):
    # GIVEN 24 s of H.264 with B-frames (its first packet decodes before time 0), a keyframe every 4 s
    source = test_media.make_clip(tmp_path / "b-frames.mp4", seconds=24, fps=5, width=160, height=90,
                                  extra=("-preset", "medium", "-bf", "2", "-g", "20", "-sc_threshold", "0"))
    info = probe(source)
    # WHEN it is split in 8 s parts
    parts = segments.split(transcode.Plan(info, video="h264", audio=None, reason="test"), source, tmp_path,
                           seconds=8)
    # THEN the parts start at 0 and end with the source: the B-frame delay did not push the timeline late
    assert [part.start for part in parts] == pytest.approx([0, 8, 16])
    assert sum(part.duration for part in parts) == pytest.approx(segments.extents(source)["video"].duration, abs=0.01)
