"""The fan-out's pure parts as plain values: the split's list read back as parts, the joined timeline's checks."""

from __future__ import annotations

import pytest

from chalicelib.media.segments import Extent, Part, parts_of, sync_problems


def test_the_segment_muxers_list_becomes_parts_with_their_durations():
    listing = "part00000.mkv,0.000000,60.400000\npart00001.mkv,60.400000,120.000000\npart00002.mkv,120.0,121.2\n"
    assert parts_of(listing) == [Part(0, 0.0, 60.4), Part(1, 60.4, pytest.approx(59.6)),
                                 Part(2, 120.0, pytest.approx(1.2))]


def test_a_part_round_trips_through_its_jobs_params():
    part = Part(3, 180.2, 59.8)
    assert Part.from_params(part.to_params()) == part
    assert (part.name, part.encoded_name) == ("part00003.mkv", "encoded00003.mp4")


PARTS = [Part(0, 0.0, 300.0), Part(1, 300.0, 300.0)]
SOUND = Extent(0.0, 600.0)


@pytest.mark.parametrize("video, audio, problem", [
    (Extent(0.0, 600.0), Extent(0.0, 600.0), None),
    (Extent(0.0, 600.06), Extent(0.0, 600.0), None),  # the picture within two frames (25 fps: 80 ms)
    (Extent(0.0, 599.0), Extent(0.0, 600.0), "picture lasts"),  # a part lost at the join
    (Extent(0.0, 600.0), Extent(0.0, 599.9), "sound lasts"),  # the sound cut short
    (Extent(0.0, 600.0), Extent(0.05, 600.0), "sound starts"),  # the sound shifted by more than a frame
    (Extent(0.0, 600.0), None, "no audio stream"),
    (None, Extent(0.0, 600.0), "no video stream"),
])
def test_the_joined_timeline_must_match_its_parts_and_the_sources_sound(video, audio, problem):
    joined = {name: extent for name, extent in (("video", video), ("audio", audio)) if extent is not None}
    problems = sync_problems(joined, parts=PARTS, audio=SOUND, fps=25)
    assert (problems == []) if problem is None else any(problem in found for found in problems), problems


def test_a_silent_source_needs_no_sound_in_the_joined_file():
    assert sync_problems({"video": Extent(0.0, 600.0)}, parts=PARTS, audio=None, fps=None) == []
