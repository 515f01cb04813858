"""What the demo workspace says: the login, the agent and its tool, and the sample conversations.

The agent runs on the local model, SmolLM2-135M by default, which follows a short, concrete
prompt best: so the prompt holds the facts it should repeat (the hours, the prices) in a few
plain lines. The samples are what a larger model makes of the same agent, its tool called."""

from typing import Any
from uuid import UUID

from agents.configuration import AgentConfiguration
from tools.spec import ToolSpec

from .order_status import ORDER_STATUS_URL

EMAIL = "demo@parley.local"
PASSWORD = "parley-demo"  # noqa: S105 - a local demo login, printed for the person running it
TEAM = "Demo team"
AGENT = "Acme Bikes assistant"

SYSTEM_PROMPT = """\
You are the friendly assistant of Acme Bikes, a bike shop at 12 Harbour Street.
Answer in one or two short sentences.
Opening hours: Monday to Friday 9:00 to 18:00, Saturday 10:00 to 16:00, closed on Sunday.
A tune-up costs 49 dollars and takes one day. Renting a bike costs 25 dollars a day.
To check an order, call the order_status tool with the order number, such as A-1042."""
FIRST_MESSAGE = (
    "Hi! I'm the Acme Bikes assistant. Ask me about our opening hours, repairs or your order."
)

TOOL = ToolSpec.model_validate(
    {
        "name": "order_status",
        "description": (
            "Look up an Acme Bikes order by its number: whether it has shipped, is ready for "
            "pickup or is still being prepared."
        ),
        "server_url": ORDER_STATUS_URL,
        "method": "POST",
        "parameters_schema": {
            "type": "object",
            "properties": {
                "order_number": {
                    "type": "string",
                    "description": "The order number, such as A-1042.",
                    "examples": ["A-1042"],
                }
            },
            "required": ["order_number"],
        },
        "timeout_seconds": 5,
        "tags": ["demo"],
    }
)


def agent_configuration(*, tool_ids: list[UUID]) -> AgentConfiguration:
    """The demo agent: offline from end to end (the local LLM, Whisper, Piper) and with the
    built-in avatar, the picture (`video.provider` "image") that, with no image set, is a disc
    with the agent's initial."""
    return AgentConfiguration.model_validate(
        {
            "llm": {
                "provider": "local",
                "model": "local",  # the local server answers with the one model it loaded
                "system_prompt": SYSTEM_PROMPT,
                "first_message": FIRST_MESSAGE,
                "temperature": 0.3,  # a tiny model strays from its prompt at the default 0.7
                "max_history": 10,
            },
            "stt": {"provider": "whisper"},
            "tts": {"provider": "piper"},
            "video": {"provider": "image"},
            "tool_calling": {"selected_tool_ids": tool_ids},
        }
    )


# The sample conversations, step by step: (seconds since the session started, what happened,
# its data). "said" is a message as the engine or a call records it, "running" the session's
# start, "tool" a call of the demo tool with these arguments, "ended" the end and its reason.
Step = tuple[float, str, Any]


def _reply(content: str, ttft: int, total: int, tokens: tuple[int, int]) -> dict[str, Any]:
    """A chat reply as the engine records it."""
    usage = {"prompt_tokens": tokens[0], "completion_tokens": tokens[1]}
    return {"role": "assistant", "content": content, "ttft_ms": ttft, "total_ms": total} | (
        usage | {"total_tokens": sum(tokens)}
    )


def _spoken(content: str, ttft: int, parts: tuple[int, int, int, int]) -> dict[str, Any]:
    """A call's reply as the voice pipeline records it: the turn's latency, end of the person's
    speech to the agent's first audio, and its parts (turn detection, speech-to-text, LLM,
    text-to-speech)."""
    detection, stt, llm, tts = parts
    return {
        "role": "assistant",
        "content": content,
        "ttft_ms": ttft,
        "latency_ms": detection + llm + tts,
        "turn_detection_ms": detection,
        "llm_ms": llm,
        "tts_ms": tts,
        "stt_ms": stt,
    }


def _user(content: str) -> dict[str, str]:
    return {"role": "user", "content": content}


CHAT: list[Step] = [
    (0.4, "said", {"role": "assistant", "content": FIRST_MESSAGE}),
    (0.4, "running", None),
    (9.3, "said", _user("Hi! Are you open on Saturday?")),
    (10.1, "said", _reply("Yes! On Saturday we're open from 10:00 to 16:00.", 284, 611, (131, 17))),
    (31.6, "said", _user("Great. Where is my order A-1042?")),
    (32.2, "tool", {"order_number": "A-1042"}),
    (
        33.5,
        "said",
        _reply(
            "Your Acme Trail 29 mountain bike has shipped with ParcelPost and should arrive "
            "within 2 working days.",
            262,
            1187,
            (236, 27),
        ),
    ),
    (52.8, "said", _user("Thanks!")),
    (53.3, "said", _reply("You're welcome, happy riding!", 240, 402, (270, 8))),
    (353.3, "ended", "idle_timeout"),  # the agent's idle_timeout_seconds after the last word
]
CALL: list[Step] = [
    (1.2, "running", None),
    (1.9, "said", {"role": "assistant", "content": FIRST_MESSAGE}),
    (8.6, "said", _user("How much is a tune-up?")),
    (
        9.8,
        "said",
        _spoken("A tune-up costs 49 dollars and takes one day.", 318, (520, 170, 330, 340)),
    ),
    (16.4, "said", _user("Can I come in on Sunday?")),
    (
        17.7,
        "said",
        _spoken(
            "Sorry, we're closed on Sunday. On Saturday we're open from 10 to 4.",
            296,
            (540, 190, 310, 390),
        ),
    ),
    (27.1, "said", _user("Okay, Saturday then. Bye!")),
    (28.2, "said", _spoken("See you on Saturday, bye!", 275, (500, 160, 290, 300))),
    (31.5, "ended", "ended by the client"),  # the caller hung up
]
