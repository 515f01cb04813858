"""What makes a tool definition valid, shared by the API, the dashboard and the services."""

import base64
import binascii
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, AnyHttpUrl, BaseModel, BeforeValidator, ConfigDict, Field

from parley.schemas import schema_check

REDACTED = "[REDACTED]"
# Header values outside this list may carry credentials, so they are masked in responses.
PUBLIC_HEADERS = frozenset({"accept", "accept-language", "content-type", "user-agent"})
# Set by the HTTP client itself; a tool overriding them would break the request.
RESERVED_HEADERS = frozenset(
    {"host", "content-length", "transfer-encoding", "connection", "upgrade", "te", "trailer"}
)
HEADER_NAME = r"^[!#$%&'*+.^_`|~0-9A-Za-z-]+$"
FUNCTION_NAME = r"^[A-Za-z_][A-Za-z0-9_-]{0,63}$"


def _parameters_schema(schema: dict[str, Any]) -> dict[str, Any]:
    """A valid JSON Schema of an object, safe to apply (parley.schemas: local $refs only,
    RE2 patterns); SchemaRefused, a ValueError, names the problem."""
    schema_check(schema)
    if schema.get("type") != "object":
        raise ValueError('must describe an object: set "type": "object" and list "properties"')
    return schema


def _settable_name(name: str) -> str:
    if name.lower() in RESERVED_HEADERS:
        raise ValueError(f"{name!r} is set by Parley itself and cannot be overridden")
    return name


def _one_line(value: str) -> str:
    if "\r" in value or "\n" in value:
        raise ValueError("contains a line break, which cannot be sent in an HTTP header")
    return value


STANDARD_WEBHOOKS_PREFIX = "whsec_"
STANDARD_WEBHOOKS_FORMAT = (
    "must be a Standard Webhooks secret: whsec_ followed by 24 to 64 random bytes in base64, "
    'as made by: python -c "import base64, secrets; '
    "print('whsec_' + base64.b64encode(secrets.token_bytes(32)).decode())\""
)


def webhook_secret_key(secret: str) -> bytes:
    """The signing key a Standard Webhooks secret stands for."""
    return base64.b64decode(secret.removeprefix(STANDARD_WEBHOOKS_PREFIX), validate=True)


def _webhook_secret(secret: str) -> str:
    if secret == REDACTED:  # a stored secret kept; the services refuse it if there is none
        return secret
    try:
        key = webhook_secret_key(secret)
    except binascii.Error:
        raise ValueError(STANDARD_WEBHOOKS_FORMAT) from None
    if not 24 <= len(key) <= 64:
        raise ValueError(STANDARD_WEBHOOKS_FORMAT)
    return secret


def _headers(headers: dict[str, str]) -> dict[str, str]:
    for name, value in headers.items():
        _settable_name(name)
        if "\r" in value or "\n" in value:
            raise ValueError(f"the value of {name!r} contains a line break")
    return headers


HeaderName = Annotated[str, Field(min_length=1, max_length=100, pattern=HEADER_NAME)]
SettableHeaderName = Annotated[HeaderName, AfterValidator(_settable_name)]
Secret = Annotated[str, Field(min_length=1, max_length=4000)]
# Bearer tokens and header values travel in a request header.
HeaderSecret = Annotated[Secret, AfterValidator(_one_line)]
Headers = Annotated[
    dict[HeaderName, Annotated[str, Field(max_length=4000)]],
    Field(max_length=50),
    AfterValidator(_headers),
]
ParametersSchema = Annotated[dict[str, Any], AfterValidator(_parameters_schema)]
Tag = Annotated[str, Field(min_length=1, max_length=50)]


class _Auth(BaseModel):
    model_config = ConfigDict(extra="forbid")


class NoAuth(_Auth):
    type: Literal["none"] = "none"


class BearerAuth(_Auth):
    type: Literal["bearer"]
    token: HeaderSecret


class BasicAuth(_Auth):
    type: Literal["basic"]
    username: Annotated[str, Field(min_length=1, max_length=200)]
    password: Secret


class HeaderAuth(_Auth):
    type: Literal["header"]
    header_name: SettableHeaderName
    header_value: HeaderSecret


class HmacAuth(_Auth):
    """Standard Webhooks signatures (webhook-id, webhook-timestamp, webhook-signature)."""

    type: Literal["hmac"]
    secret: Annotated[Secret, AfterValidator(_webhook_secret)]


def _empty_is_none(value: Any) -> Any:
    return {"type": "none"} if value == {} else value  # iwy's default auth_config is {}


AuthConfig = Annotated[
    NoAuth | BearerAuth | BasicAuth | HeaderAuth | HmacAuth,
    Field(discriminator="type"),
    BeforeValidator(_empty_is_none),
]
AUTH_SECRET_FIELDS = ("token", "password", "header_value", "secret")


class ToolSpec(BaseModel):
    """A whole, valid tool definition."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(pattern=FUNCTION_NAME, description="A function name, unique in the team.")
    description: str = Field(min_length=1, max_length=4000)
    server_url: AnyHttpUrl = Field(max_length=2000, description="The webhook Parley calls.")
    method: Literal["POST", "GET", "PUT", "PATCH", "DELETE"] = "POST"
    parameters_schema: ParametersSchema = Field(
        default_factory=lambda: {"type": "object", "properties": {}}
    )
    headers: Headers = Field(default_factory=dict)
    auth_config: AuthConfig = Field(default_factory=NoAuth)
    timeout_seconds: int = Field(default=20, ge=1, le=300)
    is_async: bool = False
    strict_params: bool = False
    tags: list[Tag] = Field(default_factory=list, max_length=20)


def headers_masked(headers: dict[str, str]) -> dict[str, str]:
    return {k: v if k.lower() in PUBLIC_HEADERS else REDACTED for k, v in headers.items()}


def auth_config_masked(auth_config: dict[str, Any]) -> dict[str, Any]:
    return {k: REDACTED if k in AUTH_SECRET_FIELDS else v for k, v in auth_config.items()}


def headers_unmasked(sent: dict[str, str], stored: dict[str, str]) -> dict[str, str]:
    """Sent headers, where a value sent back as [REDACTED] keeps the stored secret."""
    return {k: stored.get(k, v) if v == REDACTED else v for k, v in sent.items()}


def auth_config_unmasked(sent: dict[str, Any], stored: dict[str, Any]) -> dict[str, Any]:
    same_kind = sent.get("type", stored.get("type")) == stored.get("type")
    return {
        k: stored[k] if v == REDACTED and same_kind and k in stored else v for k, v in sent.items()
    }
