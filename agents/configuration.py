"""The agent `configuration` document: one schema for the API, the dashboard and the runtime.

Unknown keys are refused so that a typo (`sytem_prompt`) is an error, not a silently ignored
setting. The iwy fields `voice`, `cost_per_minute` and `version` are accepted so that agents
exported from iwy load unchanged."""

from typing import Annotated, Any, Literal
from urllib.parse import urlsplit
from uuid import UUID

from pydantic import (
    AfterValidator,
    AnyHttpUrl,
    BaseModel,
    ConfigDict,
    Field,
    ValidationInfo,
    field_validator,
)

from parley.schemas import schema_check

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
LanguageCode = Annotated[str, Field(pattern=r"^[a-z]{2,3}$")]
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


def language_code(language: str) -> str:
    """The language part of a tag such as stt.language ("en-US", "pt_BR"): "en", "pt"."""
    return language.split("-")[0].split("_")[0].lower()


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


def _data_schema(schema: dict[str, Any] | None) -> dict[str, Any] | None:
    """As a tool's parameters: a safe JSON Schema (parley.schemas) of an object."""
    if schema is None:
        return None
    schema_check(schema)
    if schema.get("type") != "object":
        raise ValueError('must describe an object: set "type": "object" and list "properties"')
    return schema


class AnalysisLLM(Section):
    """The LLM that analyses sessions: with no provider and no custom_url, the agent's own."""

    provider: LLMProvider | None = None
    model: ShortText = Field(default="", validate_default=True)
    custom_url: AnyHttpUrl | None = None

    @property
    def chosen(self) -> bool:
        return self.provider is not None or self.custom_url is not None

    @field_validator("model")
    @classmethod
    def _named(cls, model: str, info: ValidationInfo) -> str:
        if not model and info.data.get("provider") not in (None, "local"):
            raise ValueError("name the model the analysis provider should run")
        return model


class SuccessCriterion(Section):
    name: str = Field(min_length=1, max_length=100)
    rule: str = Field(min_length=1, max_length=2000)


def _distinct_names(criteria: list[SuccessCriterion]) -> list[SuccessCriterion]:
    names = [criterion.name for criterion in criteria]
    if len(set(names)) < len(names):
        raise ValueError("each criterion needs a name of its own")
    return criteria


class AnalysisConfig(Section):
    """Post-call analysis (analysis/): run on every ended session when any of the summary
    prompt, the data schema or the criteria is set."""

    summary_prompt: str = Field(default="", max_length=10_000)
    data_schema: Annotated[dict[str, Any] | None, AfterValidator(_data_schema)] = None
    success_criteria: Annotated[list[SuccessCriterion], AfterValidator(_distinct_names)] = Field(
        default_factory=list, max_length=20
    )
    llm: AnalysisLLM = Field(default_factory=AnalysisLLM)
    include_in_callback: bool = False

    @property
    def wanted(self) -> bool:
        return bool(self.summary_prompt.strip() or self.data_schema or self.success_criteria)

    @property
    def holds_callback(self) -> bool:
        """The end-of-conversation callback waits for the analysis, to carry it."""
        return self.include_in_callback and self.wanted


class TurnDetectionConfig(Section):
    """Agora's voice-activity settings, with Agora's defaults."""

    interrupt_duration_ms: int = Field(default=160, ge=0, le=10_000)
    prefix_padding_ms: int = Field(default=800, ge=0, le=5_000)
    silence_duration_ms: int = Field(default=480, ge=0, le=10_000)
    threshold: float = Field(default=0.5, ge=0, le=1)
    interrupt_mode: Literal["interrupt", "append", "ignore"] = "interrupt"
    # How a turn's end is found (voice/turns.py): by silence alone, or with the Smart-Turn model,
    # which answers a finished sentence after a short silence and lets an unfinished one wait up
    # to silence_duration_ms. eagerness is Agora's (semantic_vad): how soon "finished" is taken.
    mode: Literal["silence", "semantic"] = "silence"
    eagerness: Literal["auto", "low", "high"] = "auto"
    # While the agent speaks, the words it takes to stop it, other than backchannel phrases
    # ("mm-hmm", "okay"): the language's built-in ones, or these, by language (en, de…).
    # 0: voice activity alone stops it, after interrupt_duration_ms.
    interrupt_min_words: int = Field(default=1, ge=0, le=20)
    backchannel_phrases: dict[LanguageCode, list[ShortText]] = Field(
        default_factory=dict, max_length=20
    )


class AgentConfiguration(Section):
    llm: LLMConfig = Field(default_factory=LLMConfig)
    stt: STTConfig = Field(default_factory=STTConfig)
    tts: TTSConfig = Field(default_factory=TTSConfig)
    video: VideoConfig = Field(default_factory=VideoConfig)
    tool_calling: ToolCallingConfig = Field(default_factory=ToolCallingConfig)
    end_of_conversation: EndOfConversationConfig = Field(default_factory=EndOfConversationConfig)
    analysis: AnalysisConfig = Field(default_factory=AnalysisConfig)
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
