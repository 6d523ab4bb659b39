"""Transcript size (issue 18): how big the record's transcript is for one hour of speech, against DynamoDB's 400 KB.

One hour at 150 words a minute, written two ways: uploaded subtitles (one cue per line) and YouTube's rolling
automatic captions (each line shown again in the next cue, word timings inline, a 10 ms "hold" cue in between),
which is the worst case of repetition the transcript removes. The WebVTT size is the baseline the transcript is
measured against. Run: ``.venv/bin/python bench/transcript_size.py [--minutes N]``.
"""

from __future__ import annotations

import argparse
import random
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from chalicelib.media.captions import bounded, transcript
from chalicelib.pipeline.captions import TRANSCRIPT_MAX_BYTES

WORDS_PER_MINUTE = 150
WORDS_PER_LINE = 8
DYNAMODB_ITEM_LIMIT = 400 * 1024
# a spoken-English vocabulary with its usual spread of word lengths (about 4.5 letters a word)
VOCABULARY = ("the and to of a in that is it you for was on are with as I this be at have not but we they "
              "so what can all there about if out up one my do just like when more time some people know "
              "think because really going would which could other these things first make video right "
              "actually little bit different something important question another problem together "
              "probably everything interesting understand remember information especially")


def lines(minutes: float, seed: int = 18) -> list[list[str]]:
    rng = random.Random(seed)
    vocabulary = VOCABULARY.split()
    words = [rng.choice(vocabulary) for _ in range(int(minutes * WORDS_PER_MINUTE))]
    return [words[i:i + WORDS_PER_LINE] for i in range(0, len(words), WORDS_PER_LINE)]


def stamp(seconds: float) -> str:
    hours, rest = divmod(seconds, 3600)
    return f"{int(hours):02d}:{int(rest // 60):02d}:{rest % 60:06.3f}"


def uploaded_vtt(caption_lines: list[list[str]]) -> str:
    per_line = 60 * WORDS_PER_LINE / WORDS_PER_MINUTE
    cues = [f"{stamp(i * per_line)} --> {stamp((i + 1) * per_line)}\n{' '.join(line)}"
            for i, line in enumerate(caption_lines)]
    return "WEBVTT\n\n" + "\n\n".join(cues) + "\n"


def rolling_vtt(caption_lines: list[list[str]]) -> str:
    """YouTube's automatic captions: the previous line, then this one with per-word timings; then a hold cue."""
    per_line, per_word = 60 * WORDS_PER_LINE / WORDS_PER_MINUTE, 60 / WORDS_PER_MINUTE
    cues, previous = [], ""
    for i, line in enumerate(caption_lines):
        start, end = i * per_line, (i + 1) * per_line
        timed = line[0] + "".join(f"<{stamp(start + n * per_word)}><c> {word}</c>"
                                  for n, word in enumerate(line[1:], 1))
        cues.append(f"{stamp(start)} --> {stamp(end - 0.01)} align:start position:0%\n{previous}\n{timed}")
        previous = " ".join(line)
        cues.append(f"{stamp(end - 0.01)} --> {stamp(end)} align:start position:0%\n{previous}\n ")
    return "WEBVTT\nKind: captions\nLanguage: en\n\n" + "\n\n".join(cues) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--minutes", type=float, default=60)
    minutes = parser.parse_args().minutes
    caption_lines = lines(minutes)
    spoken = "\n".join(" ".join(line) for line in caption_lines)
    print(f"{minutes:g} min at {WORDS_PER_MINUTE} words/min: {len(spoken.split())} words")
    for name, vtt in (("uploaded", uploaded_vtt(caption_lines)), ("rolling automatic", rolling_vtt(caption_lines))):
        text = transcript(vtt)
        kept = bounded(text, TRANSCRIPT_MAX_BYTES)
        print(f"{name:>18}: WebVTT {len(vtt.encode()) / 1024:7.1f} KB -> transcript "
              f"{len(text.encode()) / 1024:6.1f} KB ({len(text.encode()) / len(vtt.encode()):.0%} of the WebVTT; "
              f"exactly the spoken text: {text == spoken}); record's copy {len(kept.encode()) / 1024:.1f} KB "
              f"= {len(kept.encode()) / DYNAMODB_ITEM_LIMIT:.0%} of DynamoDB's item limit, "
              f"{len(kept.split()) / WORDS_PER_MINUTE:.0f} min of speech")


if __name__ == "__main__":
    main()
