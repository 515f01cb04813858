"""The built-in avatar: the agent's picture or initial on a disc, centred on a frame the colour of
the widget's call stage, with a ring that follows the agent's audio as it will be heard."""

import time

import numpy as np
from asgiref.sync import async_to_sync

from agents.configuration import AgentConfiguration
from voice.avatar import DISC, LEVELS, STAGE, SpeakingAvatar, face_for


def face(name: str = "Ada", size: int = 64) -> SpeakingAvatar:
    config = AgentConfiguration.model_validate({"video": {"provider": "image"}})
    return SpeakingAvatar(async_to_sync(face_for)(config=config, name=name, size=size), fps=10)


def pixels(frame: bytes, size: int) -> np.ndarray:
    return np.frombuffer(frame, dtype=np.uint8).reshape(size, size, 3)


def near(pixel: np.ndarray, colour: tuple[int, int, int]) -> bool:
    return bool(np.abs(pixel.astype(int) - colour).max() <= 8)


def test_the_drawn_face_has_a_frame_for_each_loudness() -> None:
    avatar = face()
    assert len(avatar.face.frames) == LEVELS
    assert all(len(frame) == 64 * 64 * 3 for frame in avatar.face.frames)
    assert len(set(avatar.face.frames)) == LEVELS  # each loudness looks different


def test_without_a_picture_the_initial_sits_on_a_centred_disc_whole_on_the_stage() -> None:
    """However a page fits the frame (the widget letterboxes it on its stage), the disc is whole
    and round: nothing of it, even at its loudest, touches the frame's edges, which are the
    stage's colour."""
    size = 160
    frames = [pixels(frame, size) for frame in face("harbour help", size).face.frames]
    for frame in (frames[0], frames[-1]):
        edges = np.concatenate([frame[0], frame[-1], frame[:, 0], frame[:, -1]])
        assert all(near(pixel, STAGE) for pixel in edges)
    silent = frames[0]
    middle_row = silent[size // 2]
    disc = [x for x in range(size) if not near(middle_row[x], STAGE)]
    assert abs((disc[0] + disc[-1]) / 2 - size / 2) <= 2  # centred
    assert 0.5 * size <= len(disc) <= 0.7 * size
    assert near(silent[size // 2, disc[0] + 4], DISC)
    centre = silent[size // 2 - 20 : size // 2 + 20, size // 2 - 20 : size // 2 + 20]
    assert (centre.min(axis=2) > 230).sum() > 40  # the initial's white strokes


def test_the_ring_follows_the_audio_when_it_plays_not_when_it_was_made() -> None:
    avatar = face()
    rate = 16000
    loud = (np.sin(np.arange(rate // 2) / 5) * 20000).astype(np.int16).tobytes()
    quiet = np.zeros(rate // 2, dtype=np.int16).tobytes()
    avatar._hear(quiet, rate)  # half a second of silence plays first
    avatar._hear(loud, rate)
    assert avatar.level() == 0.0
    time.sleep(0.6)
    assert avatar.level() > 0.5
    assert avatar.until > time.monotonic()
