"""The agent `configuration` document: one schema for the API, the dashboard and the runtime.

Unknown keys are refused so that a typo (`sytem_prompt`) is an error, not a silently ignored
setting. The iwy fields `voice`, `cost_per_minute` and `version` are accepted so that agents
exported from iwy load unchanged."""

from typing import Annotated, Any, Literal
from urllib.parse import urlsplit
from uuid import UUID

from pydantic import AfterValidator, AnyHttpUrl, BaseModel, ConfigDict, Field

LLMProvider = Literal[
    "openai",
    "google",
    "groq",
    "openrouter",
    "together",
    "ollama",
    "vllm",
    "llamacpp",
    "local",
    "custom",
]
STTProvider = Literal["whisper", "deepgram", "openai", "azure"]
TTSProvider = Literal["piper", "elevenlabs", "azure", "openai", "deepgram", "cartesia"]
VideoProvider = Literal["none", "image", "binary"]
Modality = Literal["text", "image"]


def _text_only() -> list[Modality]:
    return ["text"]


DEFAULT_FAILURE_MESSAGE = "Sorry, I'm having trouble answering right now. Please try again."

ShortText = Annotated[str, Field(max_length=200)]
Cost = Annotated[float, Field(ge=0, allow_inf_nan=False)]  # "inf" as text is no cost


def _origin(value: str) -> str:
    """`https://example.com[:port]` with nothing after the host, or `*` for any origin."""
    if value == "*":
        return value
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"{value!r} is not an origin such as https://example.com")
    if parts.path not in ("", "/") or parts.query or parts.fragment or parts.username:
        raise ValueError(f"{value!r} must be only scheme, host and port, e.g. https://example.com")
    return value.rstrip("/").lower()


Origin = Annotated[str, Field(max_length=300), AfterValidator(_origin)]


class Section(BaseModel):
    model_config = ConfigDict(extra="forbid")


class LLMConfig(Section):
    provider: LLMProvider = "openai"
    model: ShortText = "gpt-4o-mini"
    system_prompt: str = Field(default="You are a helpful assistant.", max_length=100_000)
    first_message: str = Field(default="", max_length=10_000)
    custom_url: AnyHttpUrl | None = Field(
        default=None, description="An OpenAI-compatible chat-completions base URL."
    )
    temperature: float = Field(default=0.7, ge=0, le=2)
    max_history: int = Field(default=32, ge=0, le=1000, description="Turns sent to the LLM.")
    failure_message: str = Field(default=DEFAULT_FAILURE_MESSAGE, max_length=2000)
    # As Agora's llm.input_modalities: with "image", images a caller sends reach the model.
    input_modalities: list[Modality] = Field(default_factory=_text_only, max_length=2)
    voice: ShortText | None = None
    cost_per_minute: Cost | None = None


class STTConfig(Section):
    provider: STTProvider = "whisper"
    model: ShortText = "tiny.en"
    language: str = Field(
        default="en", max_length=20, pattern=r"^[A-Za-z]{2,3}([-_][A-Za-z0-9]+)*$"
    )
    cost_per_minute: Cost | None = None


class TTSConfig(Section):
    provider: TTSProvider = "piper"
    voice_id: ShortText = ""
    params: dict[str, Any] = Field(default_factory=dict)
    cost_per_minute: Cost | None = None


class VideoConfig(Section):
    provider: VideoProvider = "none"
    character_id: ShortText = ""
    cost_per_minute: Cost | None = None


class ToolCallingConfig(Section):
    selected_tool_ids: list[UUID] = Field(default_factory=list, max_length=128)


class EndOfConversationConfig(Section):
    callback_url: AnyHttpUrl | None = None
    send_data_on_end: bool = False


class TurnDetectionConfig(Section):
    """Agora's voice-activity settings, with Agora's defaults."""

    interrupt_duration_ms: int = Field(default=160, ge=0, le=10_000)
    prefix_padding_ms: int = Field(default=800, ge=0, le=5_000)
    silence_duration_ms: int = Field(default=480, ge=0, le=10_000)
    threshold: float = Field(default=0.5, ge=0, le=1)
    interrupt_mode: Literal["interrupt", "append", "ignore"] = "interrupt"


class AgentConfiguration(Section):
    llm: LLMConfig = Field(default_factory=LLMConfig)
    stt: STTConfig = Field(default_factory=STTConfig)
    tts: TTSConfig = Field(default_factory=TTSConfig)
    video: VideoConfig = Field(default_factory=VideoConfig)
    tool_calling: ToolCallingConfig = Field(default_factory=ToolCallingConfig)
    end_of_conversation: EndOfConversationConfig = Field(default_factory=EndOfConversationConfig)
    turn_detection: TurnDetectionConfig = Field(default_factory=TurnDetectionConfig)
    idle_timeout_seconds: int = Field(default=300, ge=10, le=86_400)
    max_duration_seconds: int = Field(default=1800, ge=30, le=86_400)
    allowed_origins: list[Origin] = Field(
        default_factory=list,
        max_length=50,
        description="Web origins allowed to start sessions from a browser; empty allows any.",
    )
    version: str = Field(default="1.0", max_length=20)

    def as_document(self) -> dict[str, Any]:
        """The JSON stored in the database and returned by the API."""
        return self.model_dump(mode="json")


def merge_patch(target: dict[str, Any], patch: dict[str, Any]) -> dict[str, Any]:
    """JSON Merge Patch (RFC 7396): objects merge key by key, null removes, the rest replaces."""
    merged = dict(target)
    for key, value in patch.items():
        if value is None:
            merged.pop(key, None)
        elif isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = merge_patch(merged[key], value)
        else:
            merged[key] = value
    return merged
