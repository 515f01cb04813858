"""The call's signalling in the API: the browser's WebRTC offer, passed on to the worker that
holds the call, and the ICE servers for browsers behind NAT."""

from typing import Any
from uuid import UUID

from django.conf import settings
from django.http import HttpRequest
from ninja import Router

from sessions.access import session_for_caller
from sessions.api import ANYONE, KEY_OR_TOKEN, _team_or_token

from .schemas import AnswerOut, IceServersOut, OfferIn
from .signalling import offer_relay

router = Router(tags=["Calls"])


@router.post(
    "/sessions/{session_id}/webrtc",
    response=AnswerOut,
    auth=KEY_OR_TOKEN,
    operation_id="call_offer",
    url_name="call_offer",
)
def call_offer(request: HttpRequest, session_id: UUID, payload: OfferIn) -> dict[str, Any]:
    """Send the browser's SDP offer (ICE candidates gathered, no trickle); the answer comes back
    from the worker that holds the call."""
    team, token = _team_or_token(request)
    session = session_for_caller(session_id=session_id, team=team, token=token)
    return offer_relay(session=session, offer=payload.model_dump())


@router.get("/ice-servers", response=IceServersOut, auth=ANYONE, operation_id="ice_servers")
def ice_servers(request: HttpRequest) -> dict[str, Any]:
    """The STUN and TURN servers a browser should use for Parley's calls (iwy's contract)."""
    return {"iceServers": settings.VOICE_ICE_SERVERS}
