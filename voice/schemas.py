from typing import Literal

from ninja import Field, Schema
from pydantic import ConfigDict

from config.bodies import BodyIn
from sessions.schemas import IceServer


class OfferIn(BodyIn):
    model_config = ConfigDict(extra="forbid")

    type: Literal["offer"]
    sdp: str = Field(min_length=1, max_length=100_000)


class AnswerOut(Schema):
    type: Literal["answer"]
    sdp: str
    pc_id: str


class IceServersOut(Schema):
    iceServers: list[IceServer]
