"""The built-in avatar: a face whose mouth follows the agent's audio as it will be heard."""

import time

import numpy as np
from asgiref.sync import async_to_sync

from agents.configuration import AgentConfiguration
from voice.avatar import LEVELS, SpeakingAvatar, face_for


def face(name: str = "Ada") -> SpeakingAvatar:
    config = AgentConfiguration.model_validate({"video": {"provider": "image"}})
    return SpeakingAvatar(async_to_sync(face_for)(config=config, name=name, size=64), fps=10)


def test_the_drawn_face_has_a_frame_for_each_mouth_opening() -> None:
    avatar = face()
    assert len(avatar.face.frames) == LEVELS
    assert all(len(frame) == 64 * 64 * 3 for frame in avatar.face.frames)
    assert len(set(avatar.face.frames)) == LEVELS  # each opening looks different


def test_the_mouth_follows_the_audio_when_it_plays_not_when_it_was_made() -> None:
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
