"""Playing a scenario: the simulated user talks to the agent through the conversation engine,
turn by turn, exactly as a person's messages reach it (sessions.chat), until the user is done
or the scenario's turns run out. The user is a script, or an LLM playing a persona."""

import re
from dataclasses import dataclass, replace
from typing import Any

from django.conf import settings

from parley.llm import LLMEndpoint, LLMFailure, LLMReply, chat_stream
from parley.outbound import OutboundClient, Policy
from sessions.chat import session_message, session_open
from sessions.models import Session

from .spec import ScenarioSpec

# What the simulated user answers when it is done; its last word, in capitals.
DONE = re.compile(r"\bEND\W*$")
INSTRUCTIONS = (
    "You play a person talking with an AI agent, to test the agent. Stay in character. Write "
    "only your next message to the agent, short and plain, as that person would. When your "
    "goal is reached, or clearly cannot be, answer with the single word END.\n"
    "Who you are: {persona}\nYour goal: {goal}"
)
SPEAK_FIRST = "(The agent waits for you to speak first.)"


@dataclass(frozen=True)
class UserLLM:
    endpoint: LLMEndpoint
    trusted: str | None
    persona: str
    goal: str


@dataclass(frozen=True)
class Played:
    """How the conversation went: the user's turns, whether the user was done in time, and
    why it could not be played to the end (empty when it was)."""

    turns: int
    ended: bool
    error: str = ""


async def _ask(user: UserLLM, messages: list[dict[str, Any]]) -> LLMReply:
    policy = Policy.from_settings()
    if user.trusted:
        policy = replace(policy, allowed_hosts=policy.allowed_hosts | {user.trusted})
    async with OutboundClient(policy) as client:
        async for item in chat_stream(
            client,
            user.endpoint,
            messages=messages,
            connect_timeout=settings.LLM_CONNECT_TIMEOUT,
            read_timeout=settings.LLM_READ_TIMEOUT,
        ):
            if isinstance(item, LLMReply):
                return item
    raise AssertionError("chat_stream ends with its reply")  # pragma: no cover


async def user_says(user: UserLLM, said: list[tuple[str, str]]) -> str | None:
    """The simulated user's next message, None when it is done. Raises LLMFailure."""
    persona = user.persona.strip() or "an ordinary user"
    system = INSTRUCTIONS.format(persona=persona, goal=user.goal.strip())
    messages = [{"role": "system", "content": system}]
    # Roles swapped: to the user's LLM, the agent is the one it answers.
    messages += [
        {"role": "assistant" if role == "user" else "user", "content": text} for role, text in said
    ]
    if not said:
        messages.append({"role": "user", "content": SPEAK_FIRST})
    text = (await _ask(user, messages)).content.strip()
    if DONE.search(text):
        return None
    return text


async def play(*, session: Session, spec: ScenarioSpec, user: UserLLM | None) -> Played:
    """Open the session, then one user turn after another, at most `spec.max_turns`; the
    user is done when its script runs out or its LLM says so. One more turn than the most is
    asked for, to tell a conversation that ended on its last turn from one that would not."""
    said: list[tuple[str, str]] = []
    if first := await session_open(session=session):
        said.append(("assistant", first))
    for turn in range(spec.max_turns + 1):
        if user is None:
            text = spec.script[turn] if turn < len(spec.script) else None
        else:
            try:
                text = await user_says(user, said)
            except LLMFailure as failure:
                why = f"The simulated user's LLM failed: {failure.error.message}"
                return Played(turn, False, why)
            if text == "":
                return Played(turn, False, "The simulated user's LLM answered nothing.")
        if text is None:
            return Played(turn, ended=True)
        if turn == spec.max_turns:
            return Played(turn, ended=False)
        reply = await session_message(session=session, content=text, tool_replies=spec.tool_replies)
        said += [("user", text), ("assistant", reply.reply)]
        if reply.failed:
            return Played(turn + 1, False, f"The agent's LLM failed: {reply.error}")
    raise AssertionError("the last turn returns")  # pragma: no cover
