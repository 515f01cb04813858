"""What an OpenAI-style caller sends, read leniently: the new user turn, the history it keeps,
and how to answer (streamed or not). Unknown fields are ignored; Agora's `turn_id` and
`timestamp` on messages are ignored; image parts become the text "[image]"; a body that cannot
be read is an InvalidInput (400), never a 500."""

import json
from dataclasses import dataclass, field
from typing import Any

from parley.errors import InvalidInput

MAX_MESSAGE_CHARS = 20_000
MAX_CONVERSATION_ID_CHARS = 200
IMAGE = "[image]"


@dataclass
class CompletionRequest:
    content: str  # the caller's last user message: the new turn
    history: list[dict[str, Any]] = field(default_factory=list)  # what came before, oldest first
    system: list[str] = field(default_factory=list)  # the caller's own system messages
    stream: bool = False
    include_usage: bool = False
    model: str = ""
    conversation_id: str = ""


def _text(content: Any, where: str) -> str:
    """A message's content as text: a string, or the text of a list of parts."""
    if content is None:
        return ""
    if isinstance(content, str):
        return content
    if not isinstance(content, list):
        raise InvalidInput.for_field(where, "must be a string or a list of content parts")
    pieces = []
    for part in content:
        if isinstance(part, str):
            pieces.append(part)
        elif isinstance(part, dict) and part.get("type") == "text":
            pieces.append(str(part.get("text") or ""))
        elif isinstance(part, dict) and str(part.get("type", "")).startswith(("image", "input_im")):
            pieces.append(IMAGE)
    return " ".join(p for p in pieces if p)


def _messages(body: dict[str, Any]) -> list[tuple[str, str]]:
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages:
        raise InvalidInput.for_field("messages", "must be a non-empty list of messages")
    said = []
    for i, message in enumerate(messages):
        if not isinstance(message, dict) or not isinstance(message.get("role"), str):
            raise InvalidInput.for_field(f"messages.{i}", "must be an object with a role")
        said.append((message["role"], _text(message.get("content"), f"messages.{i}.content")))
    return said


def _conversation_id(body: dict[str, Any], header: str) -> str:
    """X-Conversation-Id, else the body's `conversation_id` (what Agora's `llm.params` can
    add), else OpenAI's `user`."""
    value = header or body.get("conversation_id") or body.get("user") or ""
    if not isinstance(value, str | int):
        raise InvalidInput.for_field("conversation_id", "must be a string")
    value = str(value).strip()
    if len(value) > MAX_CONVERSATION_ID_CHARS:
        raise InvalidInput.for_field(
            "conversation_id", f"is longer than {MAX_CONVERSATION_ID_CHARS} characters"
        )
    return value


def _flags(body: dict[str, Any]) -> tuple[bool, bool]:
    stream = body.get("stream") or False
    if not isinstance(stream, bool):
        raise InvalidInput.for_field("stream", "must be true or false")
    options = body.get("stream_options") or {}
    if not isinstance(options, dict):
        raise InvalidInput.for_field("stream_options", "must be an object")
    return stream, bool(options.get("include_usage"))


def completion_request_parse(raw: bytes, *, conversation_header: str = "") -> CompletionRequest:
    try:
        body = json.loads(raw or b"null")
    except (ValueError, UnicodeDecodeError):
        raise InvalidInput("The request body is not valid JSON.") from None
    if not isinstance(body, dict):
        raise InvalidInput("The request body must be a JSON object with `messages`.")
    said = _messages(body)
    role, content = said[-1]
    if role != "user" or not content.strip():
        raise InvalidInput.for_field("messages", "must end with the user's message, not empty")
    if len(content) > MAX_MESSAGE_CHARS:
        raise InvalidInput.for_field("messages", f"the last is over {MAX_MESSAGE_CHARS} chars")
    system = [text for role, text in said[:-1] if role in ("system", "developer") and text]
    history = [
        {"role": role, "content": text}
        for role, text in said[:-1]
        if role in ("user", "assistant") and text
    ]
    stream, include_usage = _flags(body)
    model = body.get("model")
    return CompletionRequest(
        content=content,
        history=history,
        system=system,
        stream=stream,
        include_usage=include_usage,
        model=model if isinstance(model, str) else "",
        conversation_id=_conversation_id(body, conversation_header.strip()),
    )
