"""Which credentials an agent's LLM calls and cloud speech services use: the team's own (the
Providers page), else the install-wide default from the environment."""

from dataclasses import dataclass, field
from typing import Literal

from django.conf import settings
from django.urls import reverse

from parley.errors import Conflict
from teams.models import Team

from .catalog import CATALOG, LLM_KINDS, ProviderKind, api_key_hint, llm_kind, provider_kind
from .models import Provider

Source = Literal["team", "install"]
Status = Literal["team", "install", "missing"]

# What a new agent's LLM is when nobody chose one (llm_default).
OPENAI_MODEL = "gpt-4o-mini"
# The local server serves the one model it loaded, whatever name a request gives.
LOCAL_MODEL = "local"


class ProviderMissing(Conflict):
    """No usable credentials for the provider an agent asks for. 409 Conflict rather than 503:
    the request is sound and nothing is down; it conflicts with the team's current setup, and
    only a person changing that setup (not a retry) fixes it."""

    code = "provider_not_configured"


@dataclass(frozen=True)
class ResolvedProvider:
    """Where to send an agent's chat completions: `<base_url>/chat/completions`, with
    `Authorization: Bearer <api_key>` when there is a key."""

    kind: str
    label: str
    base_url: str  # without a trailing slash
    api_key: str | None = field(repr=False)  # kept out of logs and tracebacks
    source: Source
    # True only for the operator's install-wide default, which may point at a private address;
    # a team's base URL goes through the outbound guard like any URL a user typed.
    trusted: bool


@dataclass(frozen=True)
class SpeechKey:
    """What a cloud speech service of an agent's call authenticates with."""

    kind: str
    label: str
    api_key: str = field(repr=False)
    region: str  # Azure Speech's; "" for the others
    source: Source


@dataclass(frozen=True)
class ProviderProblem:
    """What keeps a team's agents from using an LLM kind, for a page that links to the fix."""

    kind: str
    message: str  # a sentence naming the Providers page, without its address
    need: str  # the same in a few words, for a badge or an option: "needs an API key"
    fix_url: str


@dataclass(frozen=True)
class ProviderStatus:
    """One kind on the Providers page: where its credentials come from, shown safely."""

    facts: ProviderKind
    status: Status
    provider: Provider | None  # the team's own, whether or not it is the one in use
    base_url: str
    api_key_hint: str  # masked; "" when there is no key or it is the operator's
    # The operator set a usable default, which the team's own credentials (if any) override.
    has_install_default: bool
    region: str = ""  # Azure Speech's, the team's or the operator's: no secret

    @property
    def kind(self) -> str:
        return self.facts.kind


def _install_default(facts: ProviderKind) -> ResolvedProvider | None:
    stored = settings.LLM_PROVIDER_DEFAULTS.get(facts.kind, {})
    base_url = stored.get("base_url") or facts.default_base_url
    api_key = stored.get("api_key") or None
    if not stored or not base_url or (facts.needs_api_key and not api_key):
        return None
    return ResolvedProvider(
        kind=facts.kind,
        label=facts.label,
        base_url=base_url.rstrip("/"),
        api_key=api_key,
        source="install",
        trusted=True,
    )


def _speech_default(facts: ProviderKind) -> SpeechKey | None:
    stored = settings.SPEECH_PROVIDER_DEFAULTS.get(facts.kind, {})
    api_key, region = stored.get("api_key", ""), stored.get("region", "")
    if not api_key or (facts.needs_region and not region):
        return None
    return SpeechKey(facts.kind, facts.label, api_key, region, "install")


def _team_speech(facts: ProviderKind, provider: Provider) -> SpeechKey | None:
    """Like _team_provider, the team's row whole: never the operator's region with its key."""
    if not provider.api_key or (facts.needs_region and not provider.region):
        return None
    return SpeechKey(facts.kind, facts.label, provider.api_key, provider.region, "team")


def _team_provider(facts: ProviderKind, provider: Provider) -> ResolvedProvider | None:
    """The team's row used whole: it never borrows the operator's key or address, so a team's
    key goes only where the team said."""
    base_url = provider.base_url or facts.default_base_url
    api_key = provider.api_key or None
    if not base_url or (facts.needs_api_key and not api_key):
        return None
    return ResolvedProvider(
        kind=facts.kind,
        label=facts.label,
        base_url=base_url.rstrip("/"),
        api_key=api_key,
        source="team",
        trusted=False,
    )


def _missing(
    facts: ProviderKind, provider: Provider | None, *, linked: bool = False
) -> ProviderMissing:
    """`linked`: for a page that links to the Providers page itself, so the words leave out its
    address, which an API client or a log needs spelled out."""
    page = reverse("providers:list")
    where = "" if linked else f" ({page})"
    details: dict[str, str | None] = {"provider": facts.kind, "page": page}
    if facts.managed:  # nothing for a team to store: only the operator sets it up
        details["env"] = facts.base_url_env
        message = f"{facts.label} is not set up: the operator can set {facts.base_url_env}."
        return ProviderMissing(message, details=details)
    if facts.needs_region:
        lacking, fix, it = f"No {facts.label} credentials", "a key and its region", "them"
        env: str | None = f"{facts.api_key_env} and {facts.region_env}"
        details |= {"env": facts.api_key_env, "region_env": facts.region_env}
    elif facts.needs_api_key:
        lacking, fix, it = f"No {facts.label} credentials", "an API key", "it"
        env = details["env"] = facts.api_key_env
    else:
        lacking, fix, it = f"No {facts.label} server", "its base URL", "it"
        env = details["env"] = facts.base_url_env
    if provider is not None:  # a row the services would not have saved; say what it lacks
        message = (
            f"{facts.label} on the Providers page is missing {fix}: an owner or admin can add "
            f"{it} there{where}."
        )
    else:
        message = (
            f"{lacking}: an owner or admin can add {fix} on the Providers page{where}, "
            f"or the operator can set {env}."
        )
    return ProviderMissing(message, details=details)


def _resolved(facts: ProviderKind, provider: Provider | None) -> ResolvedProvider:
    resolved = _install_default(facts) if provider is None else _team_provider(facts, provider)
    if resolved is None:
        raise _missing(facts, provider)
    return resolved


def _need(facts: ProviderKind) -> str:
    if facts.needs_api_key:
        return "needs an API key"
    if facts.managed:  # only the operator can set it up
        return "not set up on this server"
    return "needs a server address"


def _problem(facts: ProviderKind, provider: Provider | None) -> ProviderProblem | None:
    try:
        _resolved(facts, provider)
    except ProviderMissing:
        message = _missing(facts, provider, linked=True).message
        return ProviderProblem(facts.kind, message, _need(facts), reverse("providers:list"))
    return None


def _speech_status(facts: ProviderKind, provider: Provider | None) -> ProviderStatus:
    default = _speech_default(facts)
    if provider is not None:
        hint = api_key_hint(provider.api_key)
        return ProviderStatus(
            facts, "team", provider, "", hint, default is not None, provider.region
        )
    if default is not None:
        return ProviderStatus(facts, "install", None, "", "", True, default.region)
    return ProviderStatus(facts, "missing", None, "", "", False)


def _status(facts: ProviderKind, provider: Provider | None) -> ProviderStatus:
    if facts.speech:
        return _speech_status(facts, provider)
    default = _install_default(facts)
    if provider is not None:
        base_url = provider.base_url or facts.default_base_url or ""
        hint = api_key_hint(provider.api_key)
        return ProviderStatus(facts, "team", provider, base_url, hint, default is not None)
    if default is not None:
        return ProviderStatus(facts, "install", None, default.base_url, "", True)
    # A cloud kind's address is fixed and only its key is missing; a self-hosted kind's address
    # is what is missing, so none is shown as if it were set (the card names the usual one).
    shown = facts.default_base_url if facts.needs_api_key else ""
    return ProviderStatus(facts, "missing", None, shown or "", "", False)


def provider_get(*, team: Team, kind: str) -> Provider | None:
    """The team's own credentials for `kind`, if it stored any."""
    return Provider.objects.filter(team=team, kind=kind).first()


def provider_resolve(*, team: Team, kind: str) -> ResolvedProvider:
    """The provider an agent of `team` uses for `kind` (agents.configuration.LLMProvider, not
    "custom"): the team's own Provider row if it has one, else the install-wide default.
    Raises ProviderMissing, whose message says what is missing and how to fix it, when neither
    gives an address and, for a cloud kind, an API key; LookupError for an unknown kind or a
    speech kind."""
    facts = llm_kind(kind)
    return _resolved(facts, provider_get(team=team, kind=kind))


async def aprovider_resolve(*, team: Team, kind: str) -> ResolvedProvider:
    """provider_resolve for async code, such as the conversation engine."""
    facts = llm_kind(kind)
    return _resolved(facts, await Provider.objects.filter(team=team, kind=kind).afirst())


def speech_key_resolve(*, team: Team, kind: str) -> SpeechKey:
    """The key (and region) a call's cloud speech service of `kind` (catalog.SPEECH_KINDS) uses:
    the team's own, else the install-wide default. ProviderMissing, saying how to fix it, when
    neither has one; LookupError for a kind that is not a speech kind."""
    facts = provider_kind(kind)
    if not facts.speech:
        raise LookupError(f"{kind!r} is not a speech provider")
    provider = provider_get(team=team, kind=kind)
    found = _speech_default(facts) if provider is None else _team_speech(facts, provider)
    if found is None:
        raise _missing(facts, provider)
    return found


def provider_problem(*, team: Team, kind: str) -> str | None:
    """What stops an agent of `team` from using `kind`, for a page to show; None when nothing."""
    try:
        provider_resolve(team=team, kind=kind)
    except ProviderMissing as exc:
        return exc.message
    return None


def llm_problems(*, team: Team) -> dict[str, ProviderProblem]:
    """The LLM kinds `team`'s agents cannot use yet, each with why; a kind left out is ready.
    One query, for pages that show many agents or every kind."""
    providers = {p.kind: p for p in Provider.objects.filter(team=team)}
    found = (_problem(facts, providers.get(kind)) for kind, facts in LLM_KINDS.items())
    return {problem.kind: problem for problem in found if problem is not None}


def llm_default(*, team: Team) -> tuple[str, str]:
    """The LLM provider and model a new agent of `team` gets when nobody names one: OpenAI's
    small model where OpenAI credentials resolve (the team's own or the install's), else the
    local model Parley runs, so that a first agent answers before anyone has a cloud key."""
    try:
        provider_resolve(team=team, kind="openai")
    except ProviderMissing:
        return "local", LOCAL_MODEL
    return "openai", OPENAI_MODEL


def providers_overview(*, team: Team) -> list[ProviderStatus]:
    """Every kind, LLM and speech, in the catalog's order, with where its credentials come from:
    one query."""
    providers = {p.kind: p for p in Provider.objects.filter(team=team)}
    return [_status(facts, providers.get(kind)) for kind, facts in CATALOG.items()]
