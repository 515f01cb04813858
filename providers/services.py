import re

import pydantic
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone

from activity.models import Action, TargetType
from activity.services import Actor, activity_record
from parley.errors import Conflict, InvalidInput
from teams.models import Team

from .catalog import ProviderKind, api_key_hint, provider_kind
from .models import Provider

_http_url = pydantic.TypeAdapter(pydantic.AnyHttpUrl)
BASE_URL_MAX = 2000
API_KEY_MAX = 1000
REGION_MAX = 40
TAKEN = "Someone else saved {label} for this team at the same moment; reload and try again."
# Azure's region names: lower-case letters and digits, such as westeurope or eastus2.
_REGION = re.compile(r"[a-z0-9]+")


def _url_problem(url: str, example: str) -> str | None:
    try:
        parsed = _http_url.validate_python(url)
    except pydantic.ValidationError:
        return f"Enter an http:// or https:// URL, such as {example}"
    if parsed.username or parsed.password:
        return "Leave the credentials out of the URL; put the key under API key."
    if parsed.query or parsed.fragment or "?" in url or "#" in url:
        return "Leave out ? and #: Parley adds /chat/completions to this address."
    if url.endswith("/chat/completions"):
        return (
            f"Leave out /chat/completions (Parley adds it): {url.removesuffix('/chat/completions')}"
        )
    if len(url) > BASE_URL_MAX:
        return f"Use at most {BASE_URL_MAX} characters."
    return None


def _base_url(facts: ProviderKind, typed: str) -> str:
    """The address as stored: blank for the kind's usual one, else a checked http(s) URL.
    Intranet names such as http://ollama:11434/v1 are fine here; the outbound guard decides
    at call time whether Parley may reach them. A speech kind has no address to choose."""
    url = typed.strip().rstrip("/")
    if facts.speech:
        if url:
            raise InvalidInput.for_field("base_url", f"{facts.label} has no address to set.")
        return ""
    if not url and facts.default_base_url is None:
        raise InvalidInput.for_field(
            "base_url",
            f"{facts.label} has no usual address: enter your server's, such as "
            f"{facts.example_base_url}",
        )
    if url and (problem := _url_problem(url, facts.example_base_url)):
        raise InvalidInput.for_field("base_url", problem)
    return url


def _api_key(typed: str | None) -> str:
    key = (typed or "").strip()
    if len(key) > API_KEY_MAX:
        raise InvalidInput.for_field("api_key", f"Keep it under {API_KEY_MAX} characters.")
    if not key.isprintable() or any(char.isspace() for char in key):
        raise InvalidInput.for_field(
            "api_key", "An API key has no spaces or line breaks; paste the key alone."
        )
    return key


def _region(facts: ProviderKind, typed: str | None) -> str:
    region = (typed or "").strip().lower()
    if not region:
        raise InvalidInput.for_field(
            "region", f"{facts.label} needs the region of its key, such as westeurope."
        )
    if len(region) > REGION_MAX or not _REGION.fullmatch(region):
        raise InvalidInput.for_field(
            "region", "Enter the region's name as Azure writes it, such as westeurope or eastus2."
        )
    return region


def _credentials(
    facts: ProviderKind, provider: Provider, api_key: str | None, region: str | None
) -> dict[str, str]:
    """What to store: a typed key replaces the stored one, a blank one keeps it; a cloud kind's
    first save needs one. Azure Speech's region is saved whole each time."""
    key = _api_key(api_key) or provider.api_key
    if facts.needs_api_key and not key:
        raise InvalidInput.for_field("api_key", f"{facts.label} needs an API key.")
    credentials = {"api_key": key} if key else {}
    if facts.needs_region:
        credentials["region"] = _region(facts, region)
    return credentials


def _snapshot(provider: Provider) -> dict[str, str]:
    """What the activity log compares: the key only as its masked hint."""
    snapshot = {"base_url": provider.base_url, "api_key": api_key_hint(provider.api_key)}
    if provider.region:
        snapshot["region"] = provider.region
    return snapshot


def _record(
    provider: Provider,
    actor: Actor,
    action: Action,
    before: dict[str, str] | None,
    after: dict[str, str] | None,
) -> None:
    activity_record(
        team=provider.team,
        actor=actor,
        action=action,
        target_type=TargetType.PROVIDER,
        target_id=provider.id,
        target_label=provider.label,
        before=before,
        after=after,
    )


def _save(provider: Provider) -> None:
    try:
        provider.full_clean(exclude=["team", "created_by"], validate_constraints=False)
    except ValidationError as exc:  # _base_url should have caught it; never let it become a 500
        name, messages = next(iter(exc.message_dict.items()))
        raise InvalidInput.for_field(name, " ".join(messages)) from exc
    try:
        with transaction.atomic():
            provider.save()
    except IntegrityError as exc:  # a concurrent first save of the same kind
        raise Conflict(TAKEN.format(label=provider.label)) from exc


@transaction.atomic
def provider_save(
    *,
    team: Team,
    actor: Actor,
    kind: str,
    base_url: str,
    api_key: str | None,
    region: str | None = None,
) -> Provider:
    """Create or update the team's credentials for `kind`, LLM or speech. A blank or None
    `api_key` keeps the stored key; a cloud kind's first save needs one. `region` is Azure
    Speech's, needed on every save. Bad input raises InvalidInput naming the field."""
    try:
        facts = provider_kind(kind)
    except LookupError as exc:
        raise InvalidInput.for_field("kind", str(exc)) from None
    provider = Provider.objects.select_for_update().filter(team=team, kind=kind).first()
    created = provider is None
    if provider is None:
        provider = Provider(team=team, kind=kind, created_by=actor.person)
    before, old_key = _snapshot(provider), provider.api_key
    provider.base_url = _base_url(facts, base_url)
    provider.credentials = _credentials(facts, provider, api_key, region)
    provider.updated_at = timezone.now()
    _save(provider)
    after = _snapshot(provider)
    if provider.api_key != old_key and after["api_key"] == before["api_key"]:
        after["api_key"] += " (changed)"  # a new key that looks the same once masked
    if created:
        _record(provider, actor, Action.CREATED, {}, after)
    else:
        _record(provider, actor, Action.UPDATED, before, after)
    return provider


@transaction.atomic
def provider_delete(*, provider: Provider, actor: Actor) -> None:
    """Forget the team's credentials; agents fall back to the install-wide default, if any."""
    _record(provider, actor, Action.DELETED, before=None, after=None)
    provider.delete()
