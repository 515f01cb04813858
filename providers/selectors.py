"""Which credentials and address an agent's LLM calls use: the team's own (the Providers page),
else the install-wide default from the environment."""

from dataclasses import dataclass, field
from typing import Literal

from django.conf import settings
from django.urls import reverse

from parley.errors import ParleyError
from teams.models import Team

from .catalog import CATALOG, ProviderKind, api_key_hint, provider_kind
from .models import Provider

Source = Literal["team", "install"]
Status = Literal["team", "install", "missing"]


class ProviderMissing(ParleyError):
    """No usable credentials for the provider an agent asks for. 409 Conflict rather than 503:
    the request is sound and nothing is down; it conflicts with the team's current setup, and
    only a person changing that setup (not a retry) fixes it."""

    status = 409
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
class ProviderStatus:
    """One kind on the Providers page: where its credentials come from, shown safely."""

    facts: ProviderKind
    status: Status
    provider: Provider | None  # the team's own, whether or not it is the one in use
    base_url: str
    api_key_hint: str  # masked; "" when there is no key or it is the operator's
    # The operator set a usable default, which the team's own credentials (if any) override.
    has_install_default: bool

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


def _missing(facts: ProviderKind, provider: Provider | None) -> ProviderMissing:
    page = reverse("providers:list")
    if facts.needs_api_key:
        lacking, fix, env = f"No {facts.label} credentials", "an API key", facts.api_key_env
    else:
        lacking, fix, env = f"No {facts.label} server", "its base URL", facts.base_url_env
    if provider is not None:  # a row the services would not have saved; say what it lacks
        message = (
            f"{facts.label} on the Providers page is missing {fix}: an owner or admin can add "
            f"it there ({page})."
        )
    else:
        message = (
            f"{lacking}: an owner or admin can add {fix} on the Providers page ({page}), "
            f"or the operator can set {env}."
        )
    return ProviderMissing(message, details={"provider": facts.kind, "page": page, "env": env})


def _resolved(facts: ProviderKind, provider: Provider | None) -> ResolvedProvider:
    resolved = _install_default(facts) if provider is None else _team_provider(facts, provider)
    if resolved is None:
        raise _missing(facts, provider)
    return resolved


def _status(facts: ProviderKind, provider: Provider | None) -> ProviderStatus:
    default = _install_default(facts)
    if provider is not None:
        base_url = provider.base_url or facts.default_base_url or ""
        hint = api_key_hint(provider.api_key)
        return ProviderStatus(facts, "team", provider, base_url, hint, default is not None)
    if default is not None:
        return ProviderStatus(facts, "install", None, default.base_url, "", True)
    return ProviderStatus(facts, "missing", None, facts.default_base_url or "", "", False)


def provider_get(*, team: Team, kind: str) -> Provider | None:
    """The team's own credentials for `kind`, if it stored any."""
    return Provider.objects.filter(team=team, kind=kind).first()


def provider_resolve(*, team: Team, kind: str) -> ResolvedProvider:
    """The provider an agent of `team` uses for `kind` (agents.configuration.LLMProvider, not
    "custom"): the team's own Provider row if it has one, else the install-wide default.
    Raises ProviderMissing, whose message says what is missing and how to fix it, when neither
    gives an address and, for a cloud kind, an API key; LookupError for an unknown kind."""
    facts = provider_kind(kind)
    return _resolved(facts, provider_get(team=team, kind=kind))


async def aprovider_resolve(*, team: Team, kind: str) -> ResolvedProvider:
    """provider_resolve for async code, such as the conversation engine."""
    facts = provider_kind(kind)
    return _resolved(facts, await Provider.objects.filter(team=team, kind=kind).afirst())


def provider_problem(*, team: Team, kind: str) -> str | None:
    """What stops an agent of `team` from using `kind`, for a page to show; None when nothing."""
    try:
        provider_resolve(team=team, kind=kind)
    except ProviderMissing as exc:
        return exc.message
    return None


def providers_overview(*, team: Team) -> list[ProviderStatus]:
    """Every kind, in the catalog's order, with where its credentials come from: one query."""
    providers = {p.kind: p for p in Provider.objects.filter(team=team)}
    return [_status(facts, providers.get(kind)) for kind, facts in CATALOG.items()]
