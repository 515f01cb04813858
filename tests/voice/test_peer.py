"""The test caller's microphone (tests/voice/peer.py): when what it says has been played, which
call tests and bench/voice.py measure the agent's answers from."""

import asyncio
import time

import numpy as np

from .peer import FRAME, RATE, SpeakingTrack

SECOND = np.ones(RATE, dtype=np.int16)


def played(track: SpeakingTrack, frames: int) -> None:
    async def play() -> None:
        for _ in range(frames):
            await track.recv()

    asyncio.run(play())


def test_speech_ends_a_clip_after_what_is_queued_ahead_of_it() -> None:
    track = SpeakingTrack()
    played(track, 1)  # its clock starts

    first = track.say(SECOND)
    second = track.say(SECOND)

    assert 0.9 < second - first <= 1.0


def test_a_track_left_behind_its_clock_plays_what_is_due_at_once() -> None:
    track = SpeakingTrack()
    played(track, 1)
    assert track._started is not None
    track._started -= 5  # the machine was busy: 5 s of frames are due and unsent

    before = time.monotonic()
    ends = track.say(SECOND)

    assert ends - before < 0.5  # now, not a second from now as a track on time would say
    played(track, RATE // FRAME)  # its second of 20 ms frames, due already: sent at once
    assert track._queue.size == 0
