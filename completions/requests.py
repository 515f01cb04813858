"""What an OpenAI-style caller sends, read leniently: the new user turn, the history it keeps,
and how to answer (streamed or not). Unknown fields are ignored; Agora's `turn_id` and
`timestamp` on messages are ignored; images are kept as OpenAI's image_url parts, for a model
that takes them, and stand as the text "[image]" in the text of a message; a body that cannot be
read is a 400 (parley.jsonbody's strict reading), never a 500."""

from dataclasses import dataclass, field
from typing import Any

from django.conf import settings

from parley.errors import InvalidInput
from parley.jsonbody import json_loads

MAX_MESSAGE_CHARS = 20_000
MAX_CONVERSATION_ID_CHARS = 200
IMAGE = "[image]"


@dataclass
class Said:
    role: str
    text: str  # images in it as "[image]"
    parts: list[dict[str, Any]] | None = None  # text and image_url parts, when it has images

    def message(self, *, images: bool) -> dict[str, Any]:
        """As the LLM gets it: with its images, for a model that takes them."""
        return {"role": self.role, "content": self.parts if images and self.parts else self.text}


@dataclass
class CompletionRequest:
    content: str  # the caller's last user message: the new turn
    parts: list[dict[str, Any]] | None = None  # its text and images, when it has images
    history: list[Said] = field(default_factory=list)  # what came before, oldest first
    system: list[str] = field(default_factory=list)  # the caller's own system messages
    stream: bool = False
    include_usage: bool = False
    model: str = ""
    conversation_id: str = ""


def _image(part: dict[str, Any], where: str) -> dict[str, Any]:
    """An image part in chat-completions' shape, from it or from the Responses API's."""
    image = part.get("image_url")
    url = image.get("url") if isinstance(image, dict) else image
    if not isinstance(url, str) or not url.startswith(("https://", "http://", "data:image/")):
        raise InvalidInput.for_field(where, "must have an image_url: an http(s) or data:image URL")
    detail = image.get("detail") if isinstance(image, dict) else part.get("detail")
    return {"type": "image_url", "image_url": {"url": url} | ({"detail": detail} if detail else {})}


def _said(role: str, content: Any, where: str) -> Said:
    """A message's content as text, and as parts when it has images."""
    if content is None or isinstance(content, str):
        return Said(role, content or "")
    if not isinstance(content, list):
        raise InvalidInput.for_field(where, "must be a string or a list of content parts")
    pieces, parts, images = [], [], False
    for i, part in enumerate(content):
        if isinstance(part, str) or (isinstance(part, dict) and part.get("type") == "text"):
            text = part if isinstance(part, str) else str(part.get("text") or "")
            pieces.append(text)
            parts.append({"type": "text", "text": text})
        elif isinstance(part, dict) and str(part.get("type", "")).startswith(("image", "input_im")):
            pieces.append(IMAGE)
            parts.append(_image(part, f"{where}.{i}"))
            images = True
    return Said(role, " ".join(p for p in pieces if p), parts if images else None)


def _messages(body: dict[str, Any]) -> list[Said]:
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages:
        raise InvalidInput.for_field("messages", "must be a non-empty list of messages")
    said = []
    for i, message in enumerate(messages):
        if not isinstance(message, dict) or not isinstance(message.get("role"), str):
            raise InvalidInput.for_field(f"messages.{i}", "must be an object with a role")
        said.append(_said(message["role"], message.get("content"), f"messages.{i}.content"))
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
    body = json_loads(raw or b"null", max_depth=settings.API_MAX_JSON_DEPTH)
    if not isinstance(body, dict):
        raise InvalidInput("The request body must be a JSON object with `messages`.")
    *before, last = _messages(body)
    if last.role != "user" or not last.text.strip():
        raise InvalidInput.for_field("messages", "must end with the user's message, not empty")
    if len(last.text) > MAX_MESSAGE_CHARS:
        raise InvalidInput.for_field("messages", f"the last is over {MAX_MESSAGE_CHARS} chars")
    system = [m.text for m in before if m.role in ("system", "developer") and m.text]
    history = [m for m in before if m.role in ("user", "assistant") and m.text]
    stream, include_usage = _flags(body)
    model = body.get("model")
    return CompletionRequest(
        content=last.text,
        parts=last.parts,
        history=history,
        system=system,
        stream=stream,
        include_usage=include_usage,
        model=model if isinstance(model, str) else "",
        conversation_id=_conversation_id(body, conversation_header.strip()),
    )
