"""What Parley knows about each kind of provider: its name for people, its usual address,
whether it needs an API key, and the environment variables of the install-wide defaults.

Two families. LLM providers all speak OpenAI's chat-completions API at
`<base_url>/chat/completions`; the settings read their variables into LLM_PROVIDER_DEFAULTS.
Speech providers serve voice calls (voice.cloud): a key, and for Azure a region, with no address
to choose; the settings read their variables into SPEECH_PROVIDER_DEFAULTS. OpenAI's
speech-to-text and voices are no kind of their own: they use the OpenAI LLM provider's key and
address, as one OpenAI account serves both (config/settings/base.py names the same variables)."""

from dataclasses import dataclass
from typing import Literal

Family = Literal["llm", "speech"]


@dataclass(frozen=True)
class ProviderKind:
    kind: str  # an LLM kind is agents.configuration.LLMProvider's value
    label: str
    # The well-known address; None where only the team or the operator can know it, or, for a
    # speech kind, where there is no address to choose.
    default_base_url: str | None
    needs_api_key: bool
    api_key_env: str | None
    base_url_env: str | None
    example_base_url: str
    family: Family = "llm"
    # Azure Speech: a key belongs to one region, which the service needs as well.
    region_env: str | None = None
    # A speech kind: what agents use it for, for the Providers page.
    used_for: str = ""
    # Parley runs it (localllm/): the operator configures it, and a team has nothing to store.
    managed: bool = False

    @property
    def self_hosted(self) -> bool:
        return not self.needs_api_key

    @property
    def speech(self) -> bool:
        return self.family == "speech"

    @property
    def needs_region(self) -> bool:
        return self.region_env is not None

    @property
    def env_names(self) -> tuple[str, ...]:
        names = (self.api_key_env, self.region_env, self.base_url_env)
        return tuple(name for name in names if name)


def _cloud(
    kind: str, label: str, url: str, key_env: str, url_env: str | None = None
) -> ProviderKind:
    return ProviderKind(
        kind=kind,
        label=label,
        default_base_url=url,
        needs_api_key=True,
        api_key_env=key_env,
        base_url_env=url_env,
        example_base_url=url,
    )


def _self_hosted(
    kind: str, label: str, url: str | None, url_env: str, example: str
) -> ProviderKind:
    """A server the team or the operator runs: a key is optional (vLLM and llama.cpp take one
    with --api-key), and the install-wide default is an address only."""
    return ProviderKind(
        kind=kind,
        label=label,
        default_base_url=url,
        needs_api_key=False,
        api_key_env=None,
        base_url_env=url_env,
        example_base_url=example,
    )


def _speech(
    kind: str, label: str, key_env: str, used_for: str, region_env: str | None = None
) -> ProviderKind:
    return ProviderKind(
        kind=kind,
        label=label,
        default_base_url=None,
        needs_api_key=True,
        api_key_env=key_env,
        base_url_env=None,
        example_base_url="",
        family="speech",
        region_env=region_env,
        used_for=used_for,
    )


LLM_KINDS: dict[str, ProviderKind] = {
    p.kind: p
    for p in (
        _cloud(
            "openai", "OpenAI", "https://api.openai.com/v1", "OPENAI_API_KEY", "OPENAI_BASE_URL"
        ),
        _cloud(
            "google",
            "Google Gemini",
            "https://generativelanguage.googleapis.com/v1beta/openai",
            "GEMINI_API_KEY",
        ),
        _cloud("groq", "Groq", "https://api.groq.com/openai/v1", "GROQ_API_KEY"),
        _cloud("openrouter", "OpenRouter", "https://openrouter.ai/api/v1", "OPENROUTER_API_KEY"),
        _cloud("together", "Together AI", "https://api.together.xyz/v1", "TOGETHER_API_KEY"),
        _self_hosted(
            "ollama",
            "Ollama",
            "http://localhost:11434/v1",
            "OLLAMA_BASE_URL",
            "http://ollama.internal:11434/v1",
        ),
        _self_hosted("vllm", "vLLM", None, "VLLM_BASE_URL", "http://vllm.internal:8000/v1"),
        _self_hosted(
            "llamacpp", "llama.cpp", None, "LLAMACPP_BASE_URL", "http://llama.internal:8080/v1"
        ),
        ProviderKind(
            kind="local",
            label="Local model (on this server)",
            default_base_url=None,
            needs_api_key=False,
            api_key_env=None,
            base_url_env="LOCAL_LLM_URL",
            example_base_url="http://127.0.0.1:8003/v1",
            managed=True,
        ),
    )
}
SPEECH_KINDS: dict[str, ProviderKind] = {
    p.kind: p
    for p in (
        _speech(
            "deepgram",
            "Deepgram",
            "DEEPGRAM_API_KEY",
            "speech-to-text and voices (stt.provider or tts.provider deepgram)",
        ),
        _speech(
            "elevenlabs", "ElevenLabs", "ELEVENLABS_API_KEY", "voices (tts.provider elevenlabs)"
        ),
        _speech(
            "azure_speech",
            "Azure Speech",
            "AZURE_SPEECH_KEY",
            "speech-to-text and voices (stt.provider or tts.provider azure)",
            region_env="AZURE_SPEECH_REGION",
        ),
        _speech("cartesia", "Cartesia", "CARTESIA_API_KEY", "voices (tts.provider cartesia)"),
    )
}
# Every kind, LLM providers first: the Providers page's order.
CATALOG: dict[str, ProviderKind] = LLM_KINDS | SPEECH_KINDS
# The kinds a team can store credentials for.
KIND_CHOICES = [(p.kind, p.label) for p in CATALOG.values() if not p.managed]


def provider_kind(kind: str) -> ProviderKind:
    """The facts of one kind, LLM or speech; LookupError for a kind Parley does not know (such
    as "custom", whose address is the agent's own llm.custom_url)."""
    try:
        return CATALOG[kind]
    except KeyError:
        raise LookupError(f"{kind!r} is not a provider kind Parley knows") from None


def llm_kind(kind: str) -> ProviderKind:
    """The facts of one LLM kind; LookupError for a speech kind too, so that nothing where an
    agent's LLM is expected can resolve to Deepgram's key."""
    facts = provider_kind(kind)
    if facts.speech:
        raise LookupError(f"{kind!r} is a speech provider, not an LLM provider")
    return facts


def api_key_hint(api_key: str) -> str:
    """A stored key as people may see it: its first 3 and last 4 characters when it is long
    enough to keep most of it hidden, else only dots. Never the key itself."""
    if len(api_key) >= 20:
        return f"{api_key[:3]}…{api_key[-4:]}"
    return "••••••" if api_key else ""
