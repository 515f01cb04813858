from typing import Literal
from uuid import UUID

from ninja import Field, Schema
from pydantic import ConfigDict

from config.bodies import BodyIn


class AgoraStartOut(Schema):
    """A voice session on Agora: join `channel` of Agora app `appId` as `uid` with `rtcToken`
    (null when the app has no certificate); the agent is in the channel as `agentUid`."""

    sessionId: UUID
    sessionToken: str
    type: Literal["voice"]
    transport: Literal["agora"]
    appId: str
    channel: str
    uid: int
    agentUid: int
    rtcToken: str | None
    endUrl: str


class SpeakIn(BodyIn):
    model_config = ConfigDict(extra="forbid")

    text: str = Field(min_length=1, max_length=512, description="At most 512 bytes.")
    priority: Literal["INTERRUPT", "APPEND", "IGNORE"] = Field(
        "INTERRUPT",
        description="INTERRUPT: stop what the agent says and say this; APPEND: after it; "
        "IGNORE: only if the agent is not speaking.",
    )
    interruptable: bool = Field(True, description="Whether the person's voice can cut it off.")


class AgoraAnswerOut(Schema):
    """What Agora answered."""

    agent_id: str | None = None
    channel: str | None = None
    start_ts: int | None = None
